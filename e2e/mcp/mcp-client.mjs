// Drives the server's MCP endpoint with the official MCP TypeScript SDK's client over Streamable
// HTTP, and prints one JSON object with what each step answered; the Rust test judges it.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=<read-write token> MCP_READ_TOKEN=<read token> \
//     node mcp-client.mjs
//
// What it asks (the test sets up the prompts): prompts/list over every page; prompts/get of
// support/welcome (newest, and @production) with a customer; the search_prompts, get_prompt,
// create_prompt and update_prompt tools, update twice from the same version (the second is
// stale); as the read token, create_prompt; an unknown prompt; and a connection without a token.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.MCP_URL);

async function connect(token) {
  const client = new Client({ name: "prompt-manager-test", version: "1.0.0" });
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { code: error.code ?? null, message: String(error.message ?? error) };
  }
}

async function listAll(client) {
  const prompts = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listPrompts(cursor ? { cursor } : {});
    prompts.push(...page.prompts);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor && pages < 50);
  return { prompts, pages };
}

const tool = (client, name, args) => client.callTool({ name, arguments: args });

// Each step in turn; a step that throws unexpectedly is named on stderr.
const report = {};
let step = "connect";
async function run(name, ask) {
  step = name;
  report[name] = await ask();
}
try {
  const writer = await connect(process.env.MCP_TOKEN);
  report.server = writer.getServerVersion();
  report.capabilities = writer.getServerCapabilities();
  await run("listed", () => listAll(writer));
  const welcome = (args) => writer.getPrompt({ name: "support/welcome", arguments: args });
  await run("newest", () => welcome({ customer: "Ada" }));
  await run("production", () => writer.getPrompt({ name: "support/welcome@production", arguments: { customer: "Ada" } }));
  await run("missingArgument", () => failure(welcome({})));
  await run("unknownPrompt", () => failure(writer.getPrompt({ name: "nowhere/nothing", arguments: {} })));
  await run("tools", async () => (await writer.listTools()).tools.map((t) => t.name));
  await run("searched", () => tool(writer, "search_prompts", { query: "welcome" }));
  await run("fetched", () => tool(writer, "get_prompt", { name: "support/welcome", label: "production" }));
  await run("created", () => tool(writer, "create_prompt", { name: "mcp/made", content: "Made over {{channel}}" }));
  await run("updated", () => tool(writer, "update_prompt", { name: "mcp/made", version: 1, content: "Made again" }));
  await run("stale", () => tool(writer, "update_prompt", { name: "mcp/made", version: 1, content: "Lost" }));
  await run("hidden", () => tool(writer, "get_prompt", { name: "private/notes" }));
  await writer.close();

  step = "connect as the read token";
  const reader = await connect(process.env.MCP_READ_TOKEN);
  await run("readerListed", () => listAll(reader));
  await run("readerCreate", () => tool(reader, "create_prompt", { name: "mcp/refused", content: "No" }));
  await reader.close();

  await run("anonymous", () => failure(connect(null)));
} catch (error) {
  process.stderr.write(`step ${step} failed: ${error.stack ?? error}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(report));
