// Anchor: ajv 8 (draft 2020-12, compiled once) with JSON.parse / js-yaml 4.
// Usage: node anchor_ajv.js SCHEMA DATADIR   (NODE_PATH = .deps/node/node_modules)
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020");
const yaml = require("js-yaml");
const schema = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: false });
const validate = ajv.compile(schema);
const dir = process.argv[3];
const jdocs = fs.readFileSync(dir + "/specs.jsonl", "utf8").split("\n").filter((l) => l.length);
const ydocs = fs.readFileSync(dir + "/specs.yaml", "utf8").split("---\n").slice(1);
function run(docs, parse) {
  // warm-up so the JIT has compiled the hot paths, as it would in a server
  for (let i = 0; i < Math.min(1000, docs.length); i++) validate(parse(docs[i]));
  const t = process.hrtime.bigint();
  let ok = 0;
  for (const d of docs) if (validate(parse(d))) ok++;
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  return [ok, docs.length / s];
}
const [okj, rj] = run(jdocs, JSON.parse);
const [oky, ry] = run(ydocs, (s) => yaml.load(s));
console.log(`ajv json ${jdocs.length} docs ${okj} valid ${rj.toFixed(1)} docs/s`);
console.log(`ajv yaml ${ydocs.length} docs ${oky} valid ${ry.toFixed(1)} docs/s`);
