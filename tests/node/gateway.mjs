// @apollo/gateway in front of the subgraphs of a composed supergraph, forwarding the caller's
// Authorization and X-Purpose headers (as govgraph requires of a router).
//   node gateway.mjs PORT SUPERGRAPH.graphql     prints {"ready": url} once it listens
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";

const FORWARDED = ["authorization", "x-purpose"];

class Forwarding extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const name of FORWARDED) {
      const value = context.headers?.[name];
      if (value) request.http.headers.set(name, value);
    }
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(process.argv[3], "utf8"),
  buildService: ({ url }) => new Forwarding({ url }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(process.argv[2]) },
  context: async ({ req }) => ({ headers: req.headers }),
});
console.log(JSON.stringify({ ready: url }));
