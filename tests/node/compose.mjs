// Compose subgraphs with both composers: node compose.mjs SUBGRAPHS.json
// SUBGRAPHS.json: [{"name", "url", "sdl"}]. Prints {"apollo": {...}, "guild": {...}},
// each {"errors": [messages], "supergraph": sdl or null}.
import { readFileSync } from "node:fs";
import { composeServices as composeApollo } from "@apollo/composition";
import { composeServices as composeGuild } from "@theguild/federation-composition";
import { parse } from "graphql";

const subgraphs = JSON.parse(readFileSync(process.argv[2], "utf8")).map((subgraph) => ({
  name: subgraph.name,
  url: subgraph.url,
  typeDefs: parse(subgraph.sdl),
}));

function outcome(result) {
  return {
    errors: (result.errors ?? []).map((error) => error.message),
    supergraph: result.errors?.length ? null : result.supergraphSdl,
  };
}

console.log(JSON.stringify({ apollo: outcome(composeApollo(subgraphs)), guild: outcome(composeGuild(subgraphs)) }));
