// The test identity provider (R43): the certified `oidc-provider` package on a local port, with
// a client per test organization and accounts whose id is their email. An email starting with
// "unverified" has email_verified false. The interaction signs in the account named by the
// authorization request's login_hint (a test may change it) without a form, and grants the
// requested scopes; with "form" as the third argument it shows its own sign-in page instead (an
// Email field filled with the login_hint, and a "Sign in" button), for the browser tests.
// Prints "listening <issuer>" when ready.
//
//   node tests/sso/idp.mjs <port> <clients-json> [form]
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const clients = JSON.parse(process.argv[3]);
const withForm = process.argv[4] === "form";
const issuer = `http://127.0.0.1:${port}`;

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formEmail(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString()).get("email") || "";
}

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: id,
          email_verified: !id.startsWith("unverified"),
          name: id.split("@")[0],
        };
      },
    };
  },
  cookies: { keys: ["test-only-cookie-key"] },
});
provider.on("server_error", (ctx, error) => console.error("server_error", error));

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith("/interaction/")) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let accountId = details.params.login_hint;
  if (withForm && ctx.method === "GET") {
    ctx.type = "html";
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test identity provider</title></head><body><main>
<h1>Test identity provider: ${escape(details.params.client_id)}</h1>
<form method="post" action="/interaction/${escape(details.uid)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="${escape(accountId || "")}">
<button type="submit">Sign in</button></form></main></body></html>`;
    return undefined;
  }
  if (withForm && ctx.method === "POST") accountId = await formEmail(ctx.req);
  if (!accountId) {
    ctx.status = 400;
    ctx.body = "login_hint required";
    return undefined;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const url = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId },
    consent: { grantId },
  });
  ctx.redirect(url);
  return undefined;
});

provider.listen(port, "127.0.0.1", () => console.log(`listening ${issuer}`));
