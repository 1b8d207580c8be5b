"""Query generation for the `generate-queries` stage.

- `generate`: `generate_queries`, which runs the configured backend and the filters.
- `extractive`, `seq2seq`, `openai_chat`: the backends; `filters`: the per-query and global filters.
- `records`: the query record. The OpenAI backend's default prompts are config defaults (`config.prompts`).

Nothing is re-exported here: callers import the module they need.
"""
