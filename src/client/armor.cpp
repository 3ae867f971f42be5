#include "client/armor.hpp"

namespace bc::client {
namespace {

std::string line(std::string_view edge, std::string_view label) {
  return "-----" + std::string(edge) + " BACKCHANNEL " + std::string(label) + "-----";
}

}  // namespace

std::string armor(std::string_view label, ByteView bytes) {
  const std::string b64 = to_base64url(bytes);
  std::string out = line("BEGIN", label);
  out += '\n';
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + '\n';
  out += line("END", label);
  out += '\n';
  return out;
}

Result<Bytes> dearmor(std::string_view label, std::string_view text, std::string_view what) {
  const std::string first = line("BEGIN", label);
  const std::string last = line("END", label);
  const auto begin = text.find(first);
  const auto end = text.find(last);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return fail(Errc::kMalformed,
                "not a Backchannel " + std::string(what) + " (no BEGIN/END lines)");
  }
  std::string b64;
  for (const char c : text.substr(begin + first.size(), end - begin - first.size())) {
    if (c != '\n' && c != '\r' && c != ' ') b64 += c;
  }
  auto bytes = from_base64url(b64);
  if (!bytes)
    return fail(Errc::kMalformed, "the " + std::string(what) + " is damaged (bad characters)");
  return std::move(*bytes);
}

}  // namespace bc::client
