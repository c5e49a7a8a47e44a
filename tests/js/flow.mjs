// The Agent Server flow with LangGraph's JS client (@langchain/langgraph-sdk) against the
// interlock server at INTERLOCK_URL; prints what it saw as one JSON line for the Python test.
import { Client } from "@langchain/langgraph-sdk";

const url = process.env.INTERLOCK_URL;
const bob = new Client({ apiUrl: url, apiKey: "k-bob", callerOptions: { maxRetries: 0 } });
const ada = new Client({ apiUrl: url, apiKey: "k-ada", callerOptions: { maxRetries: 0 } });

async function status(call) {
  try {
    await call();
    return 200;
  } catch (err) {
    return err.status ?? String(err);
  }
}

const thread = await bob.threads.create({ metadata: { via: "js" } });
const tid = thread.thread_id;
const paused = await bob.runs.wait(tid, "orders", { input: { item: "book" } });
const state = await bob.threads.getState(tid);
const found = await bob.threads.search({ status: "interrupted" });
const requesterAnswer = await status(() =>
  bob.runs.wait(tid, "orders", { command: { resume: "yes" } }),
);
const requesterEdit = await status(() => bob.threads.updateState(tid, { values: { approved: "x" } }));
const events = [];
for await (const chunk of ada.runs.stream(tid, "orders", {
  command: { resume: "yes" },
  streamMode: ["values", "updates"],
})) {
  events.push({ event: chunk.event, data: chunk.data });
}
const second = await status(() =>
  ada.runs.create(tid, "orders", { command: { resume: { [paused.__interrupt__[0].id]: "no" } } }),
);
const after = await bob.threads.getState(tid);
console.log(
  JSON.stringify({
    paused,
    taskInterrupts: state.tasks[0].interrupts,
    found: found.map((t) => t.thread_id),
    tid,
    requesterAnswer,
    requesterEdit,
    events,
    second,
    values: after.values,
  }),
);
