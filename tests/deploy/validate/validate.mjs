// Validates Kubernetes manifests offline against the Kubernetes schemas.
//
//   node validate.mjs FILE.yaml...      (a file may hold several documents)
//
// Two checks per object, both from the npm package kubernetes-models (the
// API's OpenAPI schemas, compiled):
//  1. the schema itself (types, enums, required fields), via Model.validate();
//  2. no unknown fields, as the API server's strict field validation does:
//     a misspelt key (readinesProbe) passes the schema, which allows extra
//     properties, and is then silently dropped by the cluster. The field
//     names come from the package's type declarations (*.d.ts), walked from
//     the object's kind down through every nested type.
// A kustomization.yaml is checked for its known keys and for resources that
// exist. Prints one line per object and "N passed, N failed" at the end.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "package.json"));
const modelsRoot = path.dirname(require.resolve("kubernetes-models/package.json"));
const nodeModules = path.dirname(modelsRoot);

// apiVersion -> the package's directory: "v1" -> v1, "apps/v1" -> apps/v1.
function groupDir(apiVersion) {
  return apiVersion;
}

// ---- the type declarations, parsed just enough ----

const declCache = new Map();

// Parses the first `export interface` of a .d.ts file: its fields and their
// types, and the file's imports (type name -> file).
function parseDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    for (const name of m[1].split(",").map((s) => s.trim())) imports.set(name, m[2]);
  }
  let fields = null;
  const start = text.search(/^export interface \w+[^{]*\{$/m);
  if (start >= 0) {
    fields = new Map();
    const lines = text.slice(start).split("\n").slice(1);
    for (let i = 0; i < lines.length && lines[i] !== "}"; i++) {
      const m = lines[i].match(/^ {4}"([^"]+)"\??: (.*)$/);
      if (!m) continue;
      let type = m[2];
      if (type === "{") {
        // A map: { [key: string]: T; }
        const inner = lines[i + 1].match(/^ {8}\[key: string\]: (.*);$/);
        type = inner ? `Map<${inner[1]}>` : "any";
        while (i < lines.length && !/^ {4}\};$/.test(lines[i])) i++;
      } else {
        type = type.replace(/;$/, "");
      }
      fields.set(m[1], type);
    }
  }
  const decl = { file, imports, fields };
  declCache.set(file, decl);
  return decl;
}

// The .d.ts file a type name imported by `decl` lives in.
function resolveImport(decl, name) {
  const from = decl.imports.get(name);
  if (!from) return null;
  let file;
  if (from.startsWith(".")) {
    file = path.resolve(path.dirname(decl.file), from.replace(/\.js$/, ".d.ts"));
  } else {
    file = path.join(nodeModules, from.replace(/\.js$/, "") + ".d.ts");
  }
  return file;
}

// Reports every key of `value` that the type `type` (declared in `decl`) has
// no field for, recursively.
function unknownFields(value, type, decl, where, out) {
  type = type.trim();
  if (value === null || value === undefined) return;
  let m;
  if ((m = type.match(/^Array<(.*)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], decl, `${where}[${i}]`, out));
    return;
  }
  if ((m = type.match(/^Map<(.*)>$/))) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], decl, `${where}.${k}`, out);
    return;
  }
  if (!/^I\w+$/.test(type) || typeof value !== "object" || Array.isArray(value)) return;
  const file = resolveImport(decl, type);
  if (!file) return;
  const target = parseDecl(file);
  if (!target.fields) return;  // An alias (Quantity, IntOrString, ...): a leaf.
  checkObject(value, target, where, out);
}

function checkObject(obj, decl, where, out) {
  for (const [key, v] of Object.entries(obj)) {
    if (!decl.fields.has(key)) {
      out.push(`${where}.${key}: unknown field`);
      continue;
    }
    unknownFields(v, decl.fields.get(key), decl, `${where}.${key}`, out);
  }
}

// ---- the objects ----

async function validateObject(obj) {
  const { apiVersion, kind } = obj ?? {};
  if (!apiVersion || !kind) return ["no apiVersion/kind"];
  const dir = path.join(modelsRoot, groupDir(apiVersion));
  const dts = path.join(dir, `${kind}.d.ts`);
  if (!fs.existsSync(dts)) return [`unknown kind ${apiVersion} ${kind}`];
  const mod = await import(path.join(dir, `${kind}.js`));
  const errors = [];
  try {
    new mod[kind](obj).validate();
  } catch (e) {
    errors.push(String(e.message ?? e));
  }
  const decl = parseDecl(dts);
  if (decl.fields) checkObject(obj, decl, kind, errors);
  else errors.push(`no declaration for ${kind}`);
  return errors;
}

const kustomizationKeys = new Set([
  "apiVersion", "kind", "resources", "namespace", "namePrefix", "nameSuffix", "labels", "commonLabels",
  "commonAnnotations", "images", "configMapGenerator", "secretGenerator", "generatorOptions", "patches",
  "replicas", "components", "crds", "buildMetadata", "openapi", "replacements",
]);

function validateKustomization(obj, file) {
  const errors = [];
  for (const key of Object.keys(obj)) if (!kustomizationKeys.has(key)) errors.push(`${key}: unknown field`);
  if (obj.kind !== "Kustomization") errors.push(`kind is ${obj.kind}`);
  for (const r of obj.resources ?? []) {
    if (!fs.existsSync(path.resolve(path.dirname(file), r))) errors.push(`resource ${r} does not exist`);
  }
  return errors;
}

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`FAIL ${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    const isKustomization = path.basename(file) === "kustomization.yaml";
    const errors = isKustomization ? validateKustomization(obj, file) : await validateObject(obj);
    const name = `${file}: ${obj.kind} ${obj.metadata?.name ?? ""}`.trim();
    if (errors.length) {
      console.log(`FAIL ${name}\n  ${errors.join("\n  ")}`);
      failed++;
    } else {
      console.log(`ok   ${name}`);
      passed++;
    }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
