// Validates Kubernetes custom resources against their CRD schemas, strictly, as the API server
// does with `kubectl apply --validate=strict`: types, enums, patterns and required fields, and
// no field the schema does not know (a typo would otherwise be dropped silently).
// Input: one JSON document per line on stdin. Output: one verdict per document; exit 1 if any
// is invalid. The schemas are the CRDs' own OpenAPI schemas, compiled by @kubernetes-models.
const SCHEMAS = {
  "gateway.networking.k8s.io/v1/Gateway": [
    "@kubernetes-models/gateway-api",
    "IoK8sSigsGatewayApiApisV1Gateway",
  ],
  "gateway.networking.k8s.io/v1/HTTPRoute": [
    "@kubernetes-models/gateway-api",
    "IoK8sSigsGatewayApiApisV1HTTPRoute",
  ],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator",
    "ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor",
  ],
  "monitoring.coreos.com/v1/PodMonitor": [
    "@kubernetes-models/prometheus-operator",
    "ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PodMonitor",
  ],
};

// Wraps every object so that the validator's reads are recorded. A compiled validator reads
// each property its schema names, so an own key it never read is unknown to the schema. An
// object none of whose keys was read is free-form in the schema (no properties) and is skipped.
function watched(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const read = new Set();
  seen.push({ path, value, read });
  const target = Array.isArray(value)
    ? value.map((item, i) => watched(item, `${path}[${i}]`, seen))
    : Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, watched(item, `${path}.${key}`, seen)]),
      );
  const note = (key) => typeof key === "string" && read.add(key);
  return new Proxy(target, {
    get(object, key, receiver) {
      note(key);
      return Reflect.get(object, key, receiver);
    },
    has(object, key) {
      note(key);
      return Reflect.has(object, key);
    },
    ownKeys(object) {
      Reflect.ownKeys(object).forEach(note);
      return Reflect.ownKeys(object);
    },
  });
}

function unknownFields(seen) {
  const problems = [];
  for (const { path, value, read } of seen) {
    if (Array.isArray(value) || read.size === 0) continue;
    for (const key of Object.keys(value)) {
      if (!read.has(key)) problems.push(`${path}.${key}: unknown field`);
    }
  }
  return problems;
}

async function problemsOf(doc) {
  const id = `${doc.apiVersion}/${doc.kind}`;
  if (!(id in SCHEMAS)) return [`no schema for ${id}`];
  const [pkg, schema] = SCHEMAS[id];
  // The compiled schema itself (not every package exports its _schemas folder).
  const url = new URL(`_schemas/${schema}.js`, import.meta.resolve(pkg));
  const { validate } = await import(url);
  const seen = [];
  const problems = [];
  if (!validate(watched(doc, "", seen))) {
    for (const error of validate.errors) {
      problems.push(`${error.instancePath}: ${error.keyword} ${JSON.stringify(error.params)}`);
    }
  }
  return [...problems, ...unknownFields(seen)];
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
let invalid = 0;
for (const line of input.split("\n").filter(Boolean)) {
  const doc = JSON.parse(line);
  const name = `${doc.apiVersion}/${doc.kind}/${doc.metadata?.name}`;
  const problems = await problemsOf(doc);
  if (problems.length) {
    invalid += 1;
    console.log(`${name}: INVALID\n  ${problems.join("\n  ")}`);
  } else {
    console.log(`${name}: valid (strict)`);
  }
}
process.exit(invalid ? 1 : 0);
