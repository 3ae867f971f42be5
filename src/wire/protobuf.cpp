#include "wire/protobuf.hpp"

namespace bc::wire {

std::size_t ProtoWriter::varint_size(std::uint64_t value) noexcept {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void ProtoWriter::varint(std::uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<std::uint8_t>(value));
}

void ProtoWriter::uint32_field(std::uint32_t number, std::uint32_t value) {
  varint((static_cast<std::uint64_t>(number) << 3) | static_cast<std::uint8_t>(WireType::kVarint));
  varint(value);
}

void ProtoWriter::bytes_field(std::uint32_t number, ByteView value) {
  varint((static_cast<std::uint64_t>(number) << 3) |
         static_cast<std::uint8_t>(WireType::kLengthDelimited));
  varint(value.size());
  append(out_, value);
}

Result<std::uint64_t> ProtoReader::read_varint(unsigned max_bytes) {
  std::uint64_t value = 0;
  for (unsigned i = 0; i < max_bytes; ++i) {
    if (pos_ >= input_.size()) return fail(Errc::kMalformed, "protobuf: truncated varint");
    const std::uint8_t byte = input_[pos_++];
    value |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (i > 0 && byte == 0) return fail(Errc::kMalformed, "protobuf: non-minimal varint");
      return value;
    }
  }
  return fail(Errc::kMalformed, "protobuf: varint too long");
}

Result<ProtoField> ProtoReader::next() {
  // A tag of a field number below 2^29 fits in 5 bytes.
  BC_ASSIGN_OR_RETURN(const std::uint64_t tag, read_varint(5));
  if (tag > 0xFFFFFFFFULL) return fail(Errc::kMalformed, "protobuf: tag out of range");
  ProtoField field;
  field.number = static_cast<std::uint32_t>(tag >> 3);
  const auto wire_type = static_cast<std::uint8_t>(tag & 7);
  if (field.number == 0) return fail(Errc::kMalformed, "protobuf: field number 0");
  if (field.number <= last_number_) {
    return fail(Errc::kMalformed, "protobuf: fields repeated or out of order");
  }
  last_number_ = field.number;
  if (wire_type == static_cast<std::uint8_t>(WireType::kVarint)) {
    field.type = WireType::kVarint;
    BC_ASSIGN_OR_RETURN(const std::uint64_t value, read_varint(5));
    if (value > 0xFFFFFFFFULL) return fail(Errc::kMalformed, "protobuf: uint32 out of range");
    field.varint = static_cast<std::uint32_t>(value);
    return field;
  }
  if (wire_type == static_cast<std::uint8_t>(WireType::kLengthDelimited)) {
    field.type = WireType::kLengthDelimited;
    BC_ASSIGN_OR_RETURN(const std::uint64_t length, read_varint(5));
    if (length > input_.size() - pos_) return fail(Errc::kMalformed, "protobuf: truncated bytes");
    field.bytes = input_.subspan(pos_, static_cast<std::size_t>(length));
    pos_ += static_cast<std::size_t>(length);
    return field;
  }
  return fail(Errc::kMalformed, "protobuf: unsupported wire type");
}

}  // namespace bc::wire
