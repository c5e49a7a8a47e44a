// The thread protocol with LangGraph's JS client (@langchain/langgraph-sdk's
// client.threads.stream, what useStream uses) against the interlock server at INTERLOCK_URL;
// prints what it saw as one JSON line for the Python test.
import { Client } from "@langchain/langgraph-sdk";

const url = process.env.INTERLOCK_URL;
const bob = new Client({ apiUrl: url, apiKey: "k-bob", callerOptions: { maxRetries: 0 } });
const ada = new Client({ apiUrl: url, apiKey: "k-ada", callerOptions: { maxRetries: 0 } });

async function refusal(call) {
  try {
    await call();
    return "accepted";
  } catch (err) {
    return `${err.code ?? "no code"}: ${err.message ?? err}`;
  }
}

const mine = bob.threads.stream({ assistantId: "orders" });
const started = await mine.run.start({ input: { item: "book" } });
const sub = await mine.subscribe(["lifecycle", "input"]);
const seen = [];
let asked = null;
for await (const event of sub) {
  const data = event.params.data;
  seen.push(event.method === "lifecycle" ? data.event : event.method);
  if (event.method === "input.requested") asked = data;
  if (event.method === "lifecycle" && data.event === "interrupted") break;
}
const answer = { interrupt_id: asked.interrupt_id, namespace: [], response: "yes" };
const requester = await refusal(() => mine.input.respond(answer));
const theirs = ada.threads.stream(mine.threadId, { assistantId: "orders" });
await theirs.input.respond(answer);
const again = await refusal(() => theirs.input.respond(answer));
const output = await mine.output;
console.log(JSON.stringify({ started, seen, asked, requester, again, output }));
process.exit(0);
