"""Query generation for the `generate-queries` stage.

- `generate`: `generate_queries`, which runs the configured backend and the filters.
- `extractive`, `seq2seq`, `openai_chat`: the backends; `filters`: the per-query and global filters.
- `records`: the query record; `prompts`: the OpenAI backend's default prompts.

Nothing is re-exported here: `spladeforge.config` imports `querygen.prompts`, which runs this file
first, and the backends import `spladeforge.config`.
"""
