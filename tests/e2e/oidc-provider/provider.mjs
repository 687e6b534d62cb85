// A real OpenID Provider for accountd's end-to-end run: panva's oidc-provider (OpenID Certified),
// configured only as far as a test needs. Anyone may log in with any name through its
// development login form; the account's claims are derived from that name. Clients register
// themselves (dynamic registration), because accountd's callback URL names the OIDC profile and
// is only known once the profile exists. Loopback only; never use this configuration elsewhere.
import Provider from 'oidc-provider';

const port = Number(process.env.PROVIDER_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('PROVIDER_PORT must be a port number');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // PKCE for every client, confidential ones included: accountd must send it.
  pkce: { required: () => true },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: `${sub}@e2e.example.com`,
          email_verified: true,
          name: `E2E ${sub}`,
          given_name: 'E2E',
          family_name: sub,
        };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
