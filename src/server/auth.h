// API keys and prefix-cache namespaces.
//
// Without --api-key the server is open and a request's namespace is its
// cache_salt ("" when absent): requests with the same salt (or none) share
// cached prefixes, and a salt isolates whoever knows it.
//
// With --api-key K (repeatable: one key per tenant) every /v1/* request needs
// "Authorization: Bearer K" for one of the keys. Its namespace is derived on the
// server from the key: "key:" + the first 16 bytes of SHA-256(key) in hex, plus
// "/salt:" + cache_salt when one is given. Tenants never share cached prefixes
// (a cache hit would tell one tenant what another asked), the key never appears
// in clear in the cache or the logs, and a cache_salt only splits a tenant's own
// namespace further. A tenant may flush only its own namespaces.
//
// Keys are compared by their SHA-256 digests in constant time, against every key
// (no early exit), so response timing tells nothing about any key.
//
// Thread safety: immutable after construction.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace radixlm::server {

class ApiKeys {
 public:
  explicit ApiKeys(const std::vector<std::string>& keys);

  bool enabled() const { return !digests_.empty(); }

  // The tenant of an Authorization header value ("Bearer K"): its namespace
  // base ("key:…"), or "" when keys are off. UNAUTHENTICATED when keys are on
  // and the header is missing, malformed or names no key.
  StatusOr<std::string> Authenticate(std::string_view authorization) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
  std::vector<std::string> tenants_;
};

// The namespace of a request from its tenant ("" without keys) and cache_salt.
std::string RequestNamespace(const std::string& tenant,
                             const std::optional<std::string>& cache_salt);

// "key:" + hex of the first 16 bytes of SHA-256(key).
std::string TenantOfKey(std::string_view key);

}  // namespace radixlm::server
