// SHA-256 from OpenSSL's libcrypto (Debian's libssl-dev); this is the only file
// that includes it.
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace radixlm::server {
namespace {

std::array<unsigned char, 32> Digest(std::string_view s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

}  // namespace

std::string TenantOfKey(std::string_view key) {
  static const char kHex[] = "0123456789abcdef";
  const auto d = Digest(key);
  std::string out = "key:";
  for (size_t i = 0; i < 16; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 15];
  }
  return out;
}

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
  for (const std::string& k : keys) {
    digests_.push_back(Digest(k));
    tenants_.push_back(TenantOfKey(k));
  }
}

StatusOr<std::string> ApiKeys::Authenticate(std::string_view authorization) const {
  if (!enabled()) return std::string();
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      authorization.substr(0, kBearer.size()) != kBearer) {
    return Status(StatusCode::kUnauthenticated,
                  authorization.empty()
                      ? "Missing API key: send \"Authorization: Bearer YOUR_KEY\"."
                      : "Malformed Authorization header: expected \"Bearer YOUR_KEY\".");
  }
  const auto presented = Digest(authorization.substr(kBearer.size()));
  int found = -1;
  for (size_t i = 0; i < digests_.size(); ++i) {
    // CRYPTO_memcmp takes the same time whatever the bytes; every key is tried.
    const bool equal = CRYPTO_memcmp(presented.data(), digests_[i].data(), presented.size()) == 0;
    found = equal ? static_cast<int>(i) : found;
  }
  if (found < 0) return Status(StatusCode::kUnauthenticated, "Incorrect API key provided.");
  return tenants_[static_cast<size_t>(found)];
}

std::string RequestNamespace(const std::string& tenant,
                             const std::optional<std::string>& cache_salt) {
  if (tenant.empty()) return cache_salt.value_or("");
  return cache_salt ? tenant + "/salt:" + *cache_salt : tenant;
}

}  // namespace radixlm::server
