"""The process layer's tests: the registries, their life cycle and store, reaping, the webhooks'
outbox and dispatcher, the engines' integrations; no Flask app unless the test is of a host's."""
