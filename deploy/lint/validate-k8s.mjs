// Offline validation of deploy/k8s/*.yaml (run by deploy/lint.sh; needs the npm packages yaml,
// kubernetes-models, @kubernetes/client-node and ajv on NODE_PATH's module root, see lint.sh).
//   node validate-k8s.mjs FILE...        env FLINK_CRD=path/to/flinkdeployments.flink.apache.org-v1.yml (optional)
// 1. every core object against the Kubernetes API schema (kubernetes-models' validate());
// 2. unknown fields (a typo the API server would drop or reject) against @kubernetes/client-node's
//    model metadata, the way `kubeconform -strict` does;
// 3. the FlinkDeployment against the operator's CRD schema (FLINK_CRD) or, without it, a built-in
//    check of the fields and enum values used here, and its podTemplate as a core Pod;
// 4. references between the files: claims, config maps, Service selectors and named ports.
import fs from "node:fs";
import { parseAllDocuments, parse } from "yaml";
import * as k8s from "@kubernetes/client-node";
import Ajv from "ajv";

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// --- 2. unknown fields, from the client's generated model metadata -------------------------------
function modelOf(type) {
  const cls = k8s[type];
  return cls && typeof cls.getAttributeTypeMap === "function" ? cls : null;
}
function strict(value, type, path, where) {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => strict(v, arr[1], `${path}[${i}]`, where));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) strict(v, map[1], `${path}.${k}`, where);
    return;
  }
  const cls = modelOf(type);
  if (!cls || typeof value !== "object" || Array.isArray(value)) return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attrs.has(k)) problem(where, `unknown field ${path}.${k} (not in ${type})`);
    else strict(v, attrs.get(k), `${path}.${k}`, where);
  }
}

// --- 1. schema validation, kubernetes-models ------------------------------------------------------
async function modelsClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const pkg = group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  const mod = group ? `${pkg}/${group}/${version}/${kind}` : `${pkg}/${version}/${kind}`;
  try {
    return (await import(mod))[kind];
  } catch {
    return null;
  }
}
function clientType(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind; // apps/v1 Deployment -> V1Deployment
}
async function validateCore(doc, where) {
  const Cls = await modelsClass(doc.apiVersion, doc.kind);
  if (!Cls) {
    problem(where, `no schema for ${doc.apiVersion} ${doc.kind}`);
    return;
  }
  try {
    new Cls(doc).validate();
  } catch (e) {
    problem(where, `schema: ${e.message}`);
  }
  if (doc.apiVersion.startsWith("monitoring.coreos.com/")) {
    podMonitorUnknown(doc, where); // the client has no model of the operator's kinds
    return;
  }
  const type = clientType(doc.apiVersion, doc.kind);
  if (!modelOf(type)) problem(where, `no field metadata for ${type}`);
  else strict(doc, type, doc.kind, where);
}

// The PodMonitor's generated schema accepts any field: the fields the operator's CRD knows, for the
// parts used here (a typo, e.g. podMetricEndpoints, would leave Prometheus scraping nothing).
const POD_MONITOR_FIELDS = {
  "": ["apiVersion", "kind", "metadata", "spec"],
  spec: ["attachMetadata", "jobLabel", "namespaceSelector", "podMetricsEndpoints", "podTargetLabels", "sampleLimit",
    "selector", "targetLimit", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit", "keepDroppedTargets",
    "scrapeProtocols", "scrapeClass", "fallbackScrapeProtocol", "selectorMechanism", "bodySizeLimit"],
  endpoint: ["authorization", "basicAuth", "bearerTokenSecret", "enableHttp2", "filterRunning", "followRedirects",
    "honorLabels", "honorTimestamps", "interval", "metricRelabelings", "oauth2", "params", "path", "port", "portNumber",
    "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort", "tlsConfig", "trackTimestampsStaleness"],
};
function podMonitorUnknown(doc, where) {
  const check = (obj, allowed, path) => {
    for (const k of Object.keys(obj ?? {})) if (!allowed.includes(k)) problem(where, `unknown field ${path}${k} (not in the PodMonitor CRD)`);
  };
  check(doc, POD_MONITOR_FIELDS[""], "");
  check(doc.spec, POD_MONITOR_FIELDS.spec, "spec.");
  (doc.spec?.podMetricsEndpoints ?? []).forEach((e, i) => check(e, POD_MONITOR_FIELDS.endpoint, `spec.podMetricsEndpoints[${i}].`));
}

// --- 3. FlinkDeployment ---------------------------------------------------------------------------
// Without the CRD file: the values the operator's CRD (releases 1.13 to 1.15) accepts for the enums
// used here, and the spec/job fields it knows. v1_13 to v1_18 are deprecated there.
const FLINK_VERSIONS = ["v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20", "v2_0", "v2_1", "v2_2"];
const BUILTIN_SCHEMA = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  properties: {
    apiVersion: { const: "flink.apache.org/v1beta1" },
    kind: { const: "FlinkDeployment" },
    metadata: { type: "object", required: ["name"] },
    status: { type: "object" },
    spec: {
      type: "object",
      required: ["image", "flinkVersion", "jobManager", "taskManager"],
      additionalProperties: false,
      properties: {
        flinkConfiguration: { type: "object", additionalProperties: { type: ["string", "number", "boolean", "object"] } },
        flinkVersion: { enum: FLINK_VERSIONS },
        image: { type: "string" },
        imagePullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
        ingress: { type: "object" },
        job: {
          type: "object",
          required: ["jarURI"],
          additionalProperties: false,
          properties: {
            allowNonRestoredState: { type: "boolean" },
            args: { type: "array", items: { type: "string" } },
            autoscalerResetNonce: { type: "integer" },
            checkpointTriggerNonce: { type: "integer" },
            entryClass: { type: "string" },
            initialSavepointPath: { type: "string" },
            jarURI: { type: "string", pattern: "^(local|file|https?|s3a?|gs|hdfs|abfss?|oss)://" },
            parallelism: { type: "integer", minimum: 1 },
            savepointRedeployNonce: { type: "integer" },
            savepointTriggerNonce: { type: "integer" },
            state: { enum: ["running", "suspended"] },
            upgradeMode: { enum: ["last-state", "savepoint", "stateless"] },
          },
        },
        jobManager: { $ref: "#/$defs/component" },
        taskManager: { $ref: "#/$defs/component" },
        logConfiguration: { type: "object", additionalProperties: { type: "string" } },
        mode: { enum: ["native", "standalone"] },
        podTemplate: { type: "object" },
        restartNonce: { type: "integer" },
        serviceAccount: { type: "string" },
      },
    },
  },
  $defs: {
    component: {
      type: "object",
      additionalProperties: false,
      properties: {
        podTemplate: { type: "object" },
        replicas: { type: "integer", minimum: 1 },
        resource: {
          type: "object",
          additionalProperties: false,
          properties: { cpu: { type: "number" }, ephemeralStorage: { type: "string" }, memory: { type: "string" } },
        },
      },
    },
  },
};

// The CRD's structural schema: unknown fields are pruned by the API server, so report them here.
function crdUnknown(value, schema, path, where) {
  if (!schema || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => crdUnknown(v, schema.items, `${path}[${i}]`, where));
    return;
  }
  if (schema["x-kubernetes-preserve-unknown-fields"]) return;
  if (schema.properties) {
    for (const [k, v] of Object.entries(value)) {
      if (!(k in schema.properties)) problem(where, `unknown field ${path}.${k} (the API server would prune it)`);
      else crdUnknown(v, schema.properties[k], `${path}.${k}`, where);
    }
  } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    for (const [k, v] of Object.entries(value)) crdUnknown(v, schema.additionalProperties, `${path}.${k}`, where);
  }
}

function flinkSchema() {
  const file = process.env.FLINK_CRD;
  if (!file) return { schema: BUILTIN_SCHEMA, source: "built-in check (set FLINK_CRD for the operator's CRD)" };
  const crd = parse(fs.readFileSync(file, "utf8"));
  const version = crd.spec.versions.find((v) => v.name === "v1beta1");
  if (!version) throw new Error(`${file}: no v1beta1 version`);
  return { schema: version.schema.openAPIV3Schema, source: `CRD ${file}`, crd: true };
}

async function validateFlink(doc, where) {
  const { schema, source, crd } = flinkSchema();
  const ajv = new Ajv({ strict: false, allErrors: true });
  const ok = ajv.validate(schema, doc);
  if (!ok) for (const e of ajv.errors) problem(where, `${source}: ${e.instancePath || "/"} ${e.message}`);
  if (crd) crdUnknown(doc.spec, schema.properties.spec, "spec", where);
  for (const [path, tpl] of [
    ["spec.podTemplate", doc.spec?.podTemplate],
    ["spec.jobManager.podTemplate", doc.spec?.jobManager?.podTemplate],
    ["spec.taskManager.podTemplate", doc.spec?.taskManager?.podTemplate],
  ]) {
    if (!tpl) continue;
    await validateCore({ apiVersion: "v1", kind: "Pod", metadata: tpl.metadata ?? {}, spec: tpl.spec ?? { containers: [] } },
        `${where} ${path}`);
    if (!(tpl.spec?.containers ?? []).some((c) => c.name === "flink-main-container")) {
      problem(where, `${path}: no container named flink-main-container (the operator merges only into that one)`);
    }
  }
  const conf = doc.spec?.flinkConfiguration ?? {};
  const mode = doc.spec?.job?.upgradeMode;
  if (mode && mode !== "stateless" && !conf["execution.checkpointing.dir"] && !conf["state.checkpoints.dir"]) {
    problem(where, `upgradeMode ${mode} needs execution.checkpointing.dir (the operator refuses the spec)`);
  }
  if (mode === "savepoint" && !conf["execution.checkpointing.savepoint-dir"] && !conf["state.savepoints.dir"]) {
    problem(where, "upgradeMode savepoint needs execution.checkpointing.savepoint-dir (the operator refuses the spec)");
  }
  if ("env.java.opts.all" in conf) problem(where, "env.java.opts.all replaces Flink's Java 17 options: use the per-process keys");
  return source;
}

// --- 4. references between the files --------------------------------------------------------------
function podSpecs(doc) {
  if (doc.kind === "FlinkDeployment") {
    return [doc.spec?.podTemplate, doc.spec?.jobManager?.podTemplate, doc.spec?.taskManager?.podTemplate]
      .filter(Boolean).map((t) => ({ labels: t.metadata?.labels ?? {}, spec: t.spec ?? {} }));
  }
  const t = doc.spec?.template;
  return t?.spec ? [{ labels: t.metadata?.labels ?? {}, spec: t.spec }] : [];
}

// --- main -----------------------------------------------------------------------------------------
const files = process.argv.slice(2);
const docs = [];
for (const file of files) {
  parseAllDocuments(fs.readFileSync(file, "utf8")).forEach((d, i) => {
    if (d.errors.length) problem(`${file}#${i}`, `YAML: ${d.errors.map((e) => e.message).join("; ")}`);
    const js = d.toJS();
    if (js) docs.push({ doc: js, where: `${file} ${js.kind ?? "?"}/${js.metadata?.name ?? "?"}` });
  });
}
let flinkSource = null;
for (const { doc, where } of docs) {
  if (!doc.apiVersion || !doc.kind) problem(where, "apiVersion and kind are required");
  else if (doc.kind === "FlinkDeployment") flinkSource = await validateFlink(doc, where);
  else await validateCore(doc, where);
}
const defined = (kind) => new Set(docs.filter((d) => d.doc.kind === kind).map((d) => d.doc.metadata?.name));
const claims = defined("PersistentVolumeClaim");
const secretKeys = new Map(docs.filter((d) => d.doc.kind === "Secret")
  .map((d) => [d.doc.metadata?.name, new Set([...Object.keys(d.doc.data ?? {}), ...Object.keys(d.doc.stringData ?? {})])]));
const secretRef = (where, what, name, key) => {
  if (!secretKeys.has(name)) problem(where, `${what}: secret ${name} is not defined in these files`);
  else if (key !== undefined && !secretKeys.get(name).has(key)) problem(where, `${what}: secret ${name} has no key ${key}`);
};
// a label selector (matchLabels and the In/NotIn/Exists/DoesNotExist expressions) against pod labels
const selects = (sel, labels) => Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
  && (sel?.matchExpressions ?? []).every((e) => ({
    In: () => e.values.includes(labels[e.key]), NotIn: () => !e.values.includes(labels[e.key]),
    Exists: () => e.key in labels, DoesNotExist: () => !(e.key in labels),
  })[e.operator]?.() ?? false);
const configMaps = defined("ConfigMap");
for (const { doc, where } of docs) {
  for (const { spec } of podSpecs(doc)) {
    for (const v of spec.volumes ?? []) {
      if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) {
        problem(where, `volume ${v.name}: claim ${v.persistentVolumeClaim.claimName} is not defined in these files`);
      }
      if (v.secret) {
        secretRef(where, `volume ${v.name}`, v.secret.secretName);
        for (const item of v.secret.items ?? []) secretRef(where, `volume ${v.name}`, v.secret.secretName, item.key);
      }
      if (v.configMap && !configMaps.has(v.configMap.name)) {
        problem(where, `volume ${v.name}: config map ${v.configMap.name} is not defined in these files`);
      }
    }
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    for (const c of spec.containers ?? []) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && !ref.optional) secretRef(where, `${c.name}: env ${e.name}`, ref.name, ref.key);
      }
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problem(where, `${c.name}: mount of undefined volume ${m.name}`);
      const ports = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === "string" && !ports.has(port)) problem(where, `${c.name}.${probe}: no container port named ${port}`);
      }
    }
  }
  if (doc.kind === "Deployment" && doc.spec?.selector?.matchLabels) {
    const labels = doc.spec.template?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(doc.spec.selector.matchLabels)) {
      if (labels[k] !== v) problem(where, `selector ${k}=${v} does not match the pod template's labels`);
    }
  }
  if (doc.kind === "PodMonitor") {
    const pods = docs.flatMap((d) => podSpecs(d.doc)).filter((p) => selects(doc.spec?.selector, p.labels));
    if (!pods.length) problem(where, "selector matches no pod template in these files");
    for (const e of doc.spec?.podMetricsEndpoints ?? []) {
      const unnamed = pods.filter((p) => !(p.spec.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === e.port)));
      if (e.port && unnamed.length) problem(where, `port ${e.port} is not a named container port of every selected pod template`);
    }
  }
  if (doc.kind === "Service" && doc.spec?.selector) {
    const targets = docs.flatMap((d) => podSpecs(d.doc).map((p) => ({ d, p })))
      .filter(({ p }) => Object.entries(doc.spec.selector).every(([k, v]) => p.labels[k] === v));
    if (!targets.length) problem(where, "selector matches no pod template in these files");
    for (const port of doc.spec.ports ?? []) {
      if (typeof port.targetPort === "string"
          && !targets.some(({ p }) => (p.spec.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === port.targetPort)))) {
        problem(where, `targetPort ${port.targetPort} is not a named port of the selected pods`);
      }
    }
  }
}

const kinds = docs.map((d) => d.doc.kind).join(", ");
if (problems.length) {
  console.log(problems.map((p) => `  ${p}`).join("\n"));
  console.log(`validate-k8s: ${problems.length} problem(s) in ${docs.length} objects`);
  process.exit(1);
}
console.log(`validate-k8s: ${docs.length} objects valid (${kinds})${flinkSource ? `; FlinkDeployment: ${flinkSource}` : ""}`);
