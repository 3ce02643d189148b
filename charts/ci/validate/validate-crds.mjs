// Validate custom resources rendered by the charts against the kubernetes-models schemas.
//
//   node validate-crds.mjs objects.json
//
// objects.json: [{"source": "<file>", "object": {...}}, ...] (written by charts/ci/chartcheck.py).
// Two checks per object:
//   1. the model's own JSON-schema validation (required fields, types, enums) via Model#validate();
//   2. unknown fields: CRD schemas are permissive (the API server prunes unknown fields silently),
//      so a typo such as `activationQueueLenght` would pass (1). The property names declared in the
//      models' TypeScript declarations (.d.ts) are walked recursively and any key not declared is an error.
// Prints one line per failure and a summary; exits 1 on any failure.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = join(here, "node_modules");

// API group -> kubernetes-models package holding it.
const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "karpenter.sh": "@kubernetes-models/karpenter",
  "karpenter.k8s.aws": "@kubernetes-models/karpenter",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "external-secrets.io": "@kubernetes-models/external-secrets",
  "argoproj.io": "@kubernetes-models/argo-cd",
};

// ---------------------------------------------------------------------------
// Minimal reader for the generated .d.ts files: `export interface IName { "prop"?: Type; ... }`.
const declCache = new Map();

function stripComments(src) {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function loadDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const src = stripComments(readFileSync(file, "utf8"));
  const imports = new Map();
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports.set(name.split(/\s+as\s+/).pop(), m[2]);
    }
  }
  let body = null;
  const start = src.search(/export interface \w+[^{]*\{/);
  if (start >= 0) body = braceBlock(src, src.indexOf("{", start));
  const alias = src.match(/export type I\w+\s*=\s*([^;]+);/);
  const decl = { file, imports, body, alias: alias ? alias[1] : null };
  declCache.set(file, decl);
  return decl;
}

function braceBlock(src, open) {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}" && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}

// Split an interface/object-literal body into [name, type] pairs at depth 0.
function members(body) {
  const out = [];
  let depth = 0, cur = "";
  for (const ch of body) {
    if ("{<(".includes(ch)) depth++;
    if ("}>)".includes(ch)) depth--;
    if (ch === ";" && depth === 0) { push(cur); cur = ""; } else cur += ch;
  }
  push(cur);
  return out;
  function push(s) {
    s = s.trim();
    if (!s) return;
    const idx = s.search(/\[key: string\]\s*:/);
    if (idx === 0) { out.push(["[key]", s.slice(s.indexOf(":", s.indexOf("]")) + 1).trim()]); return; }
    const m = s.match(/^"?([^"?:]+)"?\??\s*:\s*([\s\S]+)$/);
    if (m) out.push([m[1], m[2].trim()]);
  }
}

// A "shape" is {props: Map<name, typeString>, mapValue: typeString|null, ctx: decl} or null (leaf).
function shapeOfType(type, ctx) {
  type = type.trim();
  const arr = type.match(/^Array<([\s\S]+)>$/);
  if (arr) return { array: true, item: arr[1], ctx };
  if (type.startsWith("{")) {
    const ms = members(braceBlock(type, 0));
    const props = new Map(ms.filter(([n]) => n !== "[key]"));
    const mapEntry = ms.find(([n]) => n === "[key]");
    return { props, mapValue: mapEntry ? mapEntry[1] : null, ctx };
  }
  if (/^I\w+$/.test(type) && ctx.imports.has(type)) {
    const file = resolveImport(ctx.imports.get(type), ctx.file);
    if (!file) return null;
    const decl = loadDecl(file);
    // An interface with no members (e.g. apiextensions JSON) is free-form: nothing to check below it.
    if (decl.body !== null && decl.body.trim()) return shapeOfType(`{${decl.body}}`, decl);
    return null; // free-form, enum or primitive alias
  }
  return null; // string, number, boolean, unions, any
}

function resolveImport(spec, fromFile) {
  let base;
  if (spec.startsWith(".")) base = resolve(dirname(fromFile), spec);
  else if (spec.startsWith("@kubernetes-models/base")) return null;
  else base = join(nodeModules, spec);
  base = base.replace(/\.js$/, "");
  const file = `${base}.d.ts`;
  return existsSync(file) ? file : null;
}

function unknownFields(value, type, ctx, path, errors) {
  const shape = shapeOfType(type, ctx);
  if (!shape || value === null || typeof value !== "object") return;
  if (shape.array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, shape.item, shape.ctx, `${path}[${i}]`, errors));
    return;
  }
  if (Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (shape.props.has(k)) unknownFields(v, shape.props.get(k), shape.ctx, `${path}.${k}`, errors);
    else if (shape.mapValue) unknownFields(v, shape.mapValue, shape.ctx, `${path}.${k}`, errors);
    else errors.push(`${path}.${k}: unknown field`);
  }
}

// ---------------------------------------------------------------------------
async function validateObject(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const pkg = PACKAGES[group];
  if (!pkg) return [`no model for ${obj.apiVersion} ${obj.kind}`];
  const modelPath = join(nodeModules, pkg, group, version, `${obj.kind}.js`);
  if (!existsSync(modelPath)) return [`no model for ${obj.apiVersion} ${obj.kind} in ${pkg}`];
  const mod = await import(modelPath);
  const Model = mod[obj.kind];
  const errors = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(String(e.message || e));
  }
  const decl = loadDecl(modelPath.replace(/\.js$/, ".d.ts"));
  const { apiVersion, kind, ...rest } = obj;
  unknownFields(rest, `{${decl.body}}`, decl, kind, errors);
  return errors;
}

const input = process.argv[2];
if (!input) {
  console.error("usage: node validate-crds.mjs objects.json");
  process.exit(2);
}
const items = JSON.parse(readFileSync(input, "utf8"));
let failed = 0;
const kinds = new Map();
for (const { source, object } of items) {
  const errors = await validateObject(object);
  const id = `${object.apiVersion}/${object.kind}`;
  kinds.set(id, (kinds.get(id) || 0) + 1);
  if (errors.length) {
    failed++;
    for (const e of errors) console.log(`FAIL ${source}: ${object.kind}/${object.metadata?.name}: ${e}`);
  }
}
const summary = [...kinds].map(([k, n]) => `${k.split("/").pop()}=${n}`).join(" ");
console.log(`crd-models: ${items.length - failed} passed, ${failed} failed — ${summary}`);
process.exit(failed ? 1 : 0);
