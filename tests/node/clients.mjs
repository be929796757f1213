// The Node openai SDK against a llava-serve, as its users write the calls. Prints one JSON line
// per call: {"call", "ok", "result", "error"}. Usage: node clients.mjs BASE_URL MODEL IMAGE_URL
import OpenAI from "openai";

const [baseURL, model, image] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "unused", maxRetries: 0 });

const shapeSchema = {
  type: "object",
  properties: {
    colour: { type: "string", enum: ["red", "green", "blue"] },
    filled: { type: "boolean" },
    corners: { type: "integer", minimum: 0, maximum: 4 },
  },
  required: ["colour", "filled", "corners"],
  additionalProperties: false,
};
const lightTool = {
  type: "function",
  function: {
    name: "switch_light",
    parameters: {
      type: "object",
      properties: { on: { type: "boolean" } },
      required: ["on"],
      additionalProperties: false,
    },
  },
};
const messages = [
  {
    role: "user",
    content: [
      { type: "image_url", image_url: { url: image } },
      { type: "text", text: "Describe the shape." },
    ],
  },
];

const calls = {
  "node chat.completions.create (image)": async () => {
    const reply = await client.chat.completions.create({ model, messages, max_tokens: 8 });
    return { content: reply.choices[0].message.content, usage: reply.usage };
  },
  "node json_schema": async () => {
    const reply = await client.chat.completions.create({
      model,
      messages,
      max_tokens: 100,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: { name: "shape", schema: shapeSchema, strict: true },
      },
    });
    return JSON.parse(reply.choices[0].message.content);
  },
  "node tools (named, streamed)": async () => {
    const stream = await client.chat.completions.create({
      model,
      messages,
      max_tokens: 100,
      temperature: 0,
      tools: [lightTool],
      tool_choice: { type: "function", function: { name: "switch_light" } },
      stream: true,
    });
    const deltas = [];
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) deltas.push(call);
    }
    const args = deltas.map((d) => d.function?.arguments ?? "").join("");
    return { first: deltas[0], arguments: JSON.parse(args) };
  },
  "node tools (required)": async () => {
    const reply = await client.chat.completions.create({
      model,
      messages,
      max_tokens: 100,
      temperature: 0,
      tools: [lightTool],
      tool_choice: "required",
      parallel_tool_calls: false, // the random model would go on listing calls
    });
    const call = reply.choices[0].message.tool_calls[0];
    return {
      finish_reason: reply.choices[0].finish_reason,
      name: call.function.name,
      arguments: JSON.parse(call.function.arguments),
    };
  },
};

for (const [name, call] of Object.entries(calls)) {
  try {
    const result = await call();
    console.log(JSON.stringify({ call: name, ok: true, result }));
  } catch (error) {
    console.log(JSON.stringify({ call: name, ok: false, result: null, error: String(error) }));
  }
}
