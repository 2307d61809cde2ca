// The graphql-http server audits against a running server.
//   node audit.mjs URL [--preflight]
// --preflight adds GraphQL-Require-Preflight to every request, as a browser app would.
// Prints a JSON list of {id, name, status, reason}.
import { serverAudits } from "graphql-http";

const [url, flag] = process.argv.slice(2);
const fetchFn =
  flag === "--preflight"
    ? (input, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set("graphql-require-preflight", "1");
        return fetch(input, { ...init, headers });
      }
    : fetch;
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
