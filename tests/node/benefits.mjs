// A second subgraph for the federation tests: the (fictional) benefits office adds Person.benefitCases.
//   node benefits.mjs PORT        prints {"ready": url} once it listens
//   node benefits.mjs --sdl       prints {"sdl": ...}
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { printSubgraphSchema } from "@apollo/subgraph";
import gql from "graphql-tag";

const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  scalar IdNumber
  type Person @key(fields: "idNumber") {
    idNumber: IdNumber!
    benefitCases: [String!]!
  }
  type Query {
    benefitsOffice: String!
  }
`;
const cases = { "110101199003071233": ["BEN-2024-0001"] };
const resolvers = {
  Query: { benefitsOffice: () => "Dongcheng benefits office (synthetic)" },
  Person: { __resolveReference: (person) => ({ ...person, benefitCases: cases[person.idNumber] ?? [] }) },
};
const schema = buildSubgraphSchema({ typeDefs, resolvers });

if (process.argv[2] === "--sdl") {
  console.log(JSON.stringify({ sdl: printSubgraphSchema(schema) }));
} else {
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(process.argv[2]) } });
  console.log(JSON.stringify({ ready: url }));
}
