#include "events/kv_event_codec.h"

#include <cstring>
#include <exception>

// Header-only msgpack-cxx (Debian's libmsgpack-cxx-dev), included here only.
#define MSGPACK_NO_BOOST
#include <msgpack.hpp>

namespace radixlm::events {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackHash(Packer& pk, const kvcache::BlockHash& h) {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(h.lo >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(h.hi >> (8 * i));
  }
  pk.pack_bin(16);
  pk.pack_bin_body(reinterpret_cast<const char*>(bytes), 16);
}

void PackStr(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackMedium(Packer& pk, std::string_view medium) {
  if (medium.empty()) {
    pk.pack_nil();
  } else {
    PackStr(pk, medium);
  }
}

void PackEvent(Packer& pk, const KvEvent& e, std::string_view device_medium) {
  const std::string_view medium = e.medium.empty() ? device_medium : std::string_view(e.medium);
  switch (e.kind) {
    case KvEventKind::kBlockStored:
      pk.pack_array(7);
      PackStr(pk, "BlockStored");
      pk.pack_array(static_cast<uint32_t>(e.block_hashes.size()));
      for (const auto& h : e.block_hashes) PackHash(pk, h);
      if (e.parent_block_hash) {
        PackHash(pk, *e.parent_block_hash);
      } else {
        pk.pack_nil();
      }
      pk.pack_array(static_cast<uint32_t>(e.token_ids.size()));
      for (kvcache::Token t : e.token_ids) pk.pack_int32(t);
      pk.pack_int32(e.block_size);
      pk.pack_nil();  // lora_id
      PackMedium(pk, medium);
      return;
    case KvEventKind::kBlockRemoved:
      pk.pack_array(3);
      PackStr(pk, "BlockRemoved");
      pk.pack_array(static_cast<uint32_t>(e.block_hashes.size()));
      for (const auto& h : e.block_hashes) PackHash(pk, h);
      PackMedium(pk, medium);
      return;
    case KvEventKind::kAllBlocksCleared:
      pk.pack_array(1);
      PackStr(pk, "AllBlocksCleared");
      return;
  }
}

// Decoding errors are thrown inside and turned into one Status at the boundary.
struct Malformed {
  std::string what;
};

const msgpack::object_array& Array(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::ARRAY) throw Malformed{std::string(what) + " is not an array"};
  return o.via.array;
}

kvcache::BlockHash Hash(const msgpack::object& o) {
  if (o.type != msgpack::type::BIN || o.via.bin.size != 16) {
    throw Malformed{"block hash is not 16 bytes of bin"};
  }
  const auto* b = reinterpret_cast<const unsigned char*>(o.via.bin.ptr);
  kvcache::BlockHash h;
  for (int i = 0; i < 8; ++i) {
    h.lo |= static_cast<uint64_t>(b[i]) << (8 * i);
    h.hi |= static_cast<uint64_t>(b[8 + i]) << (8 * i);
  }
  return h;
}

std::vector<kvcache::BlockHash> Hashes(const msgpack::object& o) {
  const auto& a = Array(o, "block_hashes");
  std::vector<kvcache::BlockHash> out;
  out.reserve(a.size);
  for (uint32_t i = 0; i < a.size; ++i) out.push_back(Hash(a.ptr[i]));
  return out;
}

int64_t Int(const msgpack::object& o, const char* what) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<int64_t>(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  throw Malformed{std::string(what) + " is not an integer"};
}

std::string Str(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::STR) throw Malformed{std::string(what) + " is not a string"};
  return std::string(o.via.str.ptr, o.via.str.size);
}

void DecodeMedium(const msgpack::object& o, KvEvent* e, KvEventBatch* batch) {
  if (o.type == msgpack::type::NIL) return;
  e->medium = Str(o, "medium");
  batch->medium = e->medium;
}

KvEvent DecodeEvent(const msgpack::object& o, KvEventBatch* batch) {
  const auto& a = Array(o, "event");
  if (a.size < 1) throw Malformed{"event has no tag"};
  const std::string tag = Str(a.ptr[0], "event tag");
  KvEvent e;
  if (tag == "BlockStored") {
    if (a.size < 5) throw Malformed{"BlockStored has " + std::to_string(a.size) + " fields"};
    e.kind = KvEventKind::kBlockStored;
    e.block_hashes = Hashes(a.ptr[1]);
    if (a.ptr[2].type != msgpack::type::NIL) e.parent_block_hash = Hash(a.ptr[2]);
    const auto& tokens = Array(a.ptr[3], "token_ids");
    for (uint32_t i = 0; i < tokens.size; ++i) {
      e.token_ids.push_back(static_cast<kvcache::Token>(Int(tokens.ptr[i], "token id")));
    }
    e.block_size = static_cast<int32_t>(Int(a.ptr[4], "block_size"));
    if (a.size >= 7) DecodeMedium(a.ptr[6], &e, batch);
  } else if (tag == "BlockRemoved") {
    if (a.size < 2) throw Malformed{"BlockRemoved has no block_hashes"};
    e.kind = KvEventKind::kBlockRemoved;
    e.block_hashes = Hashes(a.ptr[1]);
    if (a.size >= 3) DecodeMedium(a.ptr[2], &e, batch);
  } else if (tag == "AllBlocksCleared") {
    e.kind = KvEventKind::kAllBlocksCleared;
  } else {
    throw Malformed{"unknown event tag '" + tag + "'"};
  }
  return e;
}

}  // namespace

std::string EncodeKvEventBatch(double ts, std::span<const KvEvent> events, std::string_view medium,
                               std::optional<int64_t> data_parallel_rank) {
  msgpack::sbuffer buffer;
  Packer pk(&buffer);
  pk.pack_array(data_parallel_rank ? 3 : 2);
  pk.pack_double(ts);
  pk.pack_array(static_cast<uint32_t>(events.size()));
  for (const KvEvent& e : events) PackEvent(pk, e, medium);
  if (data_parallel_rank) pk.pack_int64(*data_parallel_rank);
  return std::string(buffer.data(), buffer.size());
}

StatusOr<KvEventBatch> DecodeKvEventBatch(std::string_view payload) {
  try {
    msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
    const msgpack::object& root = handle.get();
    const auto& a = Array(root, "event batch");
    if (a.size < 2 || a.size > 3) {
      throw Malformed{"event batch has " + std::to_string(a.size) + " fields, not 2 or 3"};
    }
    KvEventBatch batch;
    if (a.ptr[0].type == msgpack::type::FLOAT64 || a.ptr[0].type == msgpack::type::FLOAT32) {
      batch.ts = a.ptr[0].via.f64;
    } else {
      batch.ts = static_cast<double>(Int(a.ptr[0], "ts"));
    }
    const auto& events = Array(a.ptr[1], "events");
    for (uint32_t i = 0; i < events.size; ++i) {
      batch.events.push_back(DecodeEvent(events.ptr[i], &batch));
    }
    if (a.size == 3 && a.ptr[2].type != msgpack::type::NIL) {
      batch.data_parallel_rank = Int(a.ptr[2], "data_parallel_rank");
    }
    return batch;
  } catch (const Malformed& m) {
    return InvalidArgumentError("KV event batch: " + m.what);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("KV event batch: not msgpack: ") + e.what());
  }
}

}  // namespace radixlm::events
