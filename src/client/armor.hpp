// Armor: the text form of an exported file (an assurance or release certificate, a transcript):
// a BEGIN line naming what it is, base64url of the bytes in lines of 64 characters, an END line.
#pragma once

#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::client {

// armor wraps `bytes` between "-----BEGIN BACKCHANNEL <label>-----" and the matching END line.
[[nodiscard]] std::string armor(std::string_view label, ByteView bytes);

// dearmor takes the bytes back out of armored `text` (whitespace inside is ignored). kMalformed,
// naming `what`, when the BEGIN/END lines are missing or a character is not base64url.
[[nodiscard]] Result<Bytes> dearmor(std::string_view label, std::string_view text,
                                    std::string_view what);

}  // namespace bc::client
