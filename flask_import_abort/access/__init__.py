"""Who may call: the static bearer tokens, OCC's signed access tokens, the OpenID Connect
authorizer, and the check the routes run on every request."""
