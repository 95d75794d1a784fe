from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from flask_import_abort import ImportAbort, InMemoryImportRegistry

app = Flask(__name__)
app.config.from_prefixed_env()  # FLASK_IMPORT_ABORT_APPLICATION_KEYS, ..._SIGNING_KEYS
ImportAbort(app, registry=InMemoryImportRegistry())

# Sign-ins from one address: 10 a minute, both of OCC's roots counted together. Behind a
# proxy, let werkzeug's ProxyFix give the client's address first.
limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
sign_in_limit = limiter.shared_limit("10 per minute", scope="sign-in")
for rule in app.url_map.iter_rules():
    if rule.rule in ("/ccadmin/v1/login", "/ccadminui/v1/login"):
        app.view_functions[rule.endpoint] = sign_in_limit(app.view_functions[rule.endpoint])
