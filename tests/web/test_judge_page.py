"""The judge page in a real headless Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import json

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from spladeforge.evaluation.beir import _read_qrels
from spladeforge.io import read_jsonl
from spladeforge.judging.storage import JudgmentStore, query_id
from tests.judging.corpus import CHUNKS
from tests.judging.serving import QUERIES, judge_server


def _wait(driver, condition, timeout=15):
    # The page re-renders a query's passages after each save: an element read a moment ago may be gone.
    return WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition)


def _click_grade(driver, index, grade):
    def click(d):
        _passages(d)[index].find_element(By.CSS_SELECTOR, f'button[data-grade="{grade}"]').click()
        return True
    _wait(driver, click)


def _ids(driver):
    return _wait(driver, lambda d: [p.get_attribute("data-chunk-id") for p in _passages(d)])


def _passages(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#passages .passage")


def _open(driver, url):
    driver.get(url)
    _wait(driver, lambda d: len(_passages(d)) > 0)
    _wait(driver, lambda d: d.find_element(By.ID, "progress").text.startswith("judged"))


def _saved(driver, chunk_id, text="saved"):
    selector = f'.passage[data-chunk-id="{chunk_id}"] .state'
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector).text == text)


def _chosen(driver):
    """chunk id -> the grade the page shows as chosen (None when ungraded)."""
    def read(d):
        shown = {}
        for passage in _passages(d):
            chosen = passage.find_elements(By.CSS_SELECTOR, "button.chosen")
            grade = int(chosen[0].get_attribute("data-grade")) if chosen else None
            shown[passage.get_attribute("data-chunk-id")] = grade
        return shown
    return _wait(driver, read)


def _key(driver, keys):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def test_judge_by_click_and_key_then_reload(tmp_path, browser):
    """Click a grade, grade by keys, reload: the page shows every grade; qrels/test.tsv is BEIR evaluate reads."""
    with judge_server(tmp_path) as server:
        _open(browser, server.url)
        assert browser.find_element(By.ID, "query-text").text == QUERIES[0]
        first, second, third = _ids(browser)[:3]
        # the query's words are highlighted in the passage text
        marks = _wait(browser, lambda d: [m.text.lower() for m in d.find_elements(By.CSS_SELECTOR, "#passages mark")])
        assert {"csv", "rows", "file"} <= set(marks) and set(marks) <= {"csv", "rows", "reads", "reading",
                                                                           "file", "files"}
        _click_grade(browser, 0, 2)
        _saved(browser, first)
        # after a grade the next passage is current: "1" grades the second, then "0" the third
        _key(browser, "1")
        _saved(browser, second)
        _key(browser, "0")
        _saved(browser, third)
        assert browser.find_element(By.ID, "status").text == "all grades saved"
        _wait(browser, lambda d: d.find_element(By.ID, "progress").text.startswith("judged 3 of "))
        browser.refresh()
        _open(browser, server.url)
        shown = _chosen(browser)
        assert (shown[first], shown[second], shown[third]) == (2, 1, 0)
    folder = tmp_path / "judgments"
    queries = {r["_id"]: r["text"] for r in read_jsonl(folder / "queries.jsonl")}
    corpus = {chunk_id: (title, text) for chunk_id, _, title, text in CHUNKS}
    qrels = _read_qrels(folder / "qrels" / "test.tsv", queries, corpus, folder)
    assert qrels == {query_id(QUERIES[0]): {first: 2, second: 1, third: 0}}


def test_move_with_keys_undo_and_next_query(tmp_path, browser):
    with judge_server(tmp_path) as server:
        _open(browser, server.url)
        ids = _ids(browser)
        _key(browser, "jjk")  # down, down, up: the second passage
        _wait(browser, lambda d: "current" in _passages(d)[1].get_attribute("class"))
        _key(browser, "2")
        _saved(browser, ids[1])
        _key(browser, "u")
        _saved(browser, ids[1], "grade removed")
        _wait(browser, lambda d: _chosen(d)[ids[1]] is None)
        _key(browser, "n")
        _wait(browser, lambda d: d.find_element(By.ID, "query-text").text == QUERIES[1])
        _key(browser, "p")
        _wait(browser, lambda d: d.find_element(By.ID, "query-text").text == QUERIES[0])
    store = JudgmentStore(tmp_path / "judgments")
    assert store.grades() == {}
    assert [e.grade for e in store.entries()] == [2, None]


def test_type_a_query_into_the_page(tmp_path, browser):
    with judge_server(tmp_path, queries=()) as server:
        browser.get(server.url)
        _wait(browser, ec.visibility_of_element_located((By.ID, "empty")))
        box = browser.find_element(By.ID, "new-query")
        box.send_keys("open a gzip file\n")
        _wait(browser, lambda d: d.find_element(By.ID, "query-text").text == "open a gzip file")
        assert "gzip-0" in _ids(browser)
        assert browser.current_url.endswith("#" + query_id("open a gzip file"))
    assert json.loads((tmp_path / "judgments" / "queries.jsonl").read_text())["source"] == "typed"


def test_a_failed_save_is_shown_and_not_counted(tmp_path, browser):
    """The folder edited into a bad state while the page runs: the grade shows as not saved, the log keeps its lines."""
    with judge_server(tmp_path) as server:
        _open(browser, server.url)
        first = _ids(browser)[0]
        log = tmp_path / "judgments" / "grades.jsonl"
        log.write_text("hand-edited\n")
        _click_grade(browser, 0, 1)
        state = f'.passage[data-chunk-id="{first}"] .state'
        _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, state).text.startswith("not saved"))
        assert "grades.jsonl:1: malformed JSON" in browser.find_element(By.ID, "status").text
        assert log.read_text() == "hand-edited\n"
