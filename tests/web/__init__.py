"""The web layer's tests: the endpoint and its answers, access, OCC's admin API, the settings, the
languages, the OpenAPI document, the operators' tools, in-process through Flask's test client."""
