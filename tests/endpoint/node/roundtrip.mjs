// One round trip of the official `openai` Node client through Proctor's endpoint.
// tests/endpoint/test_node_client.py runs it once (node start-up is most of its time) with
// BASE_URL and API_KEY set, scripts the upstream's answers in this order, and asserts on
// the one JSON object this prints.
import OpenAI from "openai";

const baseURL = process.env.BASE_URL;
const apiKey = process.env.API_KEY;
// The SDK's default of two retries, so an answer it would retry shows up upstream.
const client = new OpenAI({ baseURL, apiKey, timeout: 20_000 });

const tool = {
  type: "function",
  function: {
    name: "fetch_po",
    description: "Fetch a purchase order.",
    parameters: { type: "object", properties: { po: { type: "string" } }, required: ["po"] },
  },
};
const schema = {
  name: "invoice_total",
  strict: true,
  schema: {
    type: "object",
    properties: { total: { type: "number" } },
    required: ["total"],
    additionalProperties: false,
  },
};

function failure(err) {
  return {
    class: err?.constructor?.name,
    isAuthenticationError: err instanceof OpenAI.AuthenticationError,
    status: err?.status,
    code: err?.code ?? null,
    shouldRetry: err?.headers?.get("x-should-retry") ?? null,
  };
}

const out = {};

const { data: called, response } = await client.chat.completions
  .create({
    model: "small",
    messages: [{ role: "user", content: "fetch PO-1" }],
    tools: [tool],
    tool_choice: { type: "function", function: { name: "fetch_po" } },
    seed: 7,
  })
  .withResponse();
out.tools = {
  finish_reason: called.choices[0].finish_reason,
  tool_calls: called.choices[0].message.tool_calls.map((c) => ({
    name: c.function.name,
    arguments: JSON.parse(c.function.arguments),
  })),
  ratelimit_limit_requests: response.headers.get("x-ratelimit-limit-requests"),
};

const structured = await client.chat.completions.create({
  model: "small",
  messages: [{ role: "user", content: "the total, as JSON" }],
  response_format: { type: "json_schema", json_schema: schema },
  seed: 7,
});
out.json_schema = JSON.parse(structured.choices[0].message.content);

const stream = await client.chat.completions.create({
  model: "small",
  messages: [{ role: "user", content: "stream it" }],
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks += 1;
  text += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
out.stream = { text, chunks, usage };

const listed = [];
for await (const model of client.models.list()) listed.push(model.id);
out.models = { listed, retrieved: (await client.models.retrieve("small")).id };

try {
  const stranger = new OpenAI({ baseURL, apiKey: "sk-wrong", timeout: 20_000 });
  await stranger.chat.completions.create({ model: "small", messages: [{ role: "user", content: "hi" }] });
  out.bad_key = "no error";
} catch (err) {
  out.bad_key = failure(err);
}

try {
  await client.chat.completions.create({
    model: "small",
    messages: [{ role: "user", content: "the upstream fails this one" }],
  });
  out.upstream_error = "no error";
} catch (err) {
  out.upstream_error = failure(err);
}

process.stdout.write(JSON.stringify(out));
