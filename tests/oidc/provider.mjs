// A real OpenID provider for the tests: the npm package oidc-provider (installed in tools/oidc),
// issuing client-credentials JWT access tokens for one resource. It prints one JSON line a
// request it serves, so that a test counts the fetches of its key set.
//
//   node provider.mjs <port> <private JWKS file>
//
// The client "importer" (secret "importer-secret") may ask for import:abort and import:read;
// the client "reader" (secret "reader-secret") for import:read alone; the client "exporter"
// (secret "exporter-secret") for export:abort and export:read.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(fileURLToPath(new URL("../../tools/oidc/package.json", import.meta.url)));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const [port, keysFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
export const RESOURCE = "urn:flask-import-abort:imports";
const SCOPES = "import:abort import:read";
const EXPORT_SCOPES = "export:abort export:read";

const provider = new Provider(issuer, {
  clients: [
    { client_id: "importer", client_secret: "importer-secret", grant_types: ["client_credentials"],
      redirect_uris: [], response_types: [], scope: SCOPES },
    { client_id: "reader", client_secret: "reader-secret", grant_types: ["client_credentials"],
      redirect_uris: [], response_types: [], scope: "import:read" },
    { client_id: "exporter", client_secret: "exporter-secret", grant_types: ["client_credentials"],
      redirect_uris: [], response_types: [], scope: EXPORT_SCOPES },
  ],
  scopes: ["openid", "import:abort", "import:read", "export:abort", "export:read"],
  jwks: JSON.parse(readFileSync(keysFile, "utf8")),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      // JWT access tokens: oidc-provider issues opaque ones unless a resource asks for JWTs.
      getResourceServerInfo: () => ({
        scope: `${SCOPES} ${EXPORT_SCOPES}`,
        audience: RESOURCE,
        accessTokenTTL: 300,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
});

provider.use(async (ctx, next) => {
  console.log(JSON.stringify({ method: ctx.method, path: ctx.path }));
  await next();
});

provider.listen(Number(port), "127.0.0.1", () => console.log(JSON.stringify({ ready: issuer })));
