"""The abort endpoint: its settings, the checks and schemas of its request and answers, the
answer to an abort, and its OpenAPI document."""
