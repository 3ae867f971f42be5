#include "client/relay_link.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <thread>

#include "net/client.hpp"
#include "relay/relay_client.hpp"

namespace bc::client {

Result<RelayUrl> parse_relay_url(std::string_view url) {
  constexpr std::string_view kScheme = "wss://";
  if (!url.starts_with(kScheme)) return fail(Errc::kMalformed, "relay URL must start with wss://");
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  RelayUrl out;
  std::string_view port_text;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return fail(Errc::kMalformed, "relay URL must be wss://HOST:PORT");
    }
    out.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(Errc::kMalformed, "relay URL must be wss://HOST:PORT");
    }
    out.host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return fail(Errc::kMalformed, "relay URL has an invalid port");
  }
  if (out.host.find_first_of("/?#@ ") != std::string::npos || out.host.empty()) {
    return fail(Errc::kMalformed, "relay URL has an invalid host");
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

RelayLink::RelayLink() : codec_(std::make_unique<relay::RelayClientCodec>()) {}
RelayLink::~RelayLink() = default;

namespace {

// A relay that accepted the TCP connection and then failed the TLS handshake, the WebSocket
// upgrade or the hello (one that is starting or stopping, a connection that raced a restart) is
// tried again, kConnectAttempts times in all, after a pause that grows by kRetryPauseMs. One that
// refuses the connection is down: that is reported at once (the caller keeps what it was sending
// queued), as is a certificate or signing key that does not match (kAuthFailed).
constexpr int kConnectAttempts = 3;
constexpr std::uint32_t kRetryPauseMs = 200;

// reached says whether a failed connect got as far as an accepted TCP connection; net::Client
// reports a failed TCP connect as "cannot connect to the relay: ...".
bool reached(const Error& e) { return !e.detail.starts_with("cannot connect to the relay"); }

}  // namespace

Result<std::unique_ptr<RelayLink>> RelayLink::connect(const std::string& url, ByteView fingerprint,
                                                      std::uint32_t timeout_ms) {
  BC_ASSIGN_OR_RETURN(const RelayUrl parsed, parse_relay_url(url));
  for (int attempt = 1;; ++attempt) {
    auto link = connect_once(parsed, fingerprint, timeout_ms);
    if (link || link.error().code != Errc::kUnavailable || !reached(link.error()) ||
        attempt == kConnectAttempts) {
      return link;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs * attempt));
  }
}

Result<std::unique_ptr<RelayLink>> RelayLink::connect_once(const RelayUrl& url,
                                                           ByteView fingerprint,
                                                           std::uint32_t timeout_ms) {
  net::ClientOptions options;
  options.host = url.host;
  options.port = url.port;
  options.fingerprint = to_bytes(fingerprint);
  options.timeout_ms = timeout_ms;
  std::unique_ptr<RelayLink> link(new RelayLink());
  link->timeout_ms_ = timeout_ms;
  BC_ASSIGN_OR_RETURN(link->connection_, net::Client::connect(options));
  BC_ASSIGN_OR_RETURN(const wire::RelayMessage reply, link->request(link->codec_->hello()));
  const auto* challenge = std::get_if<wire::ChallengeReply>(&reply);
  if (challenge == nullptr) return fail(Errc::kMalformed, "relay answered hello unexpectedly");
  link->challenge_ = challenge->challenge;
  link->relay_key_ = challenge->relay_key;
  return link;
}

Result<wire::RelayMessage> RelayLink::request(Result<Bytes> frame) {
  BC_ASSIGN_OR_RETURN(const wire::RequestId id, send_request(std::move(frame)));
  return await_reply(id);
}

Result<wire::RequestId> RelayLink::send_request(Result<Bytes> frame) {
  if (!frame) return fail(std::move(frame).error());
  if (!connection_) return fail(Errc::kUnavailable, "relay connection is closed");
  const wire::RequestId id = codec_->last_request_id();
  if (auto sent = connection_->send(*frame); !sent) {
    connection_.reset();
    return fail(std::move(sent).error());
  }
  return id;
}

Result<wire::RelayMessage> RelayLink::await_reply(wire::RequestId id) {
  if (!connection_) return fail(Errc::kUnavailable, "relay connection is closed");
  for (;;) {
    auto raw = connection_->receive_for(timeout_ms_);
    if (!raw) {
      connection_.reset();
      return fail(Errc::kUnavailable, "relay did not answer: " + raw.error().detail);
    }
    auto parsed = relay::RelayClientCodec::parse(*raw);
    if (!parsed) {
      connection_.reset();
      return fail(Errc::kMalformed, "relay sent an unreadable frame");
    }
    if (auto* delivery = std::get_if<wire::Delivery>(&parsed->message)) {
      pending_.push_back(std::move(*delivery));
      continue;
    }
    if (parsed->request_id != id) {
      if (parsed->request_id == 0) {
        if (const auto* e = std::get_if<wire::ErrorReply>(&parsed->message)) {
          connection_.reset();
          return fail(Errc::kUnavailable, "relay closed the connection: " +
                                              std::string(wire::relay_error_name(e->code)));
        }
      }
      continue;  // an answer to an earlier request we no longer wait for
    }
    if (const auto* e = std::get_if<wire::ErrorReply>(&parsed->message)) {
      const std::string name(wire::relay_error_name(e->code));
      switch (e->code) {
        case wire::RelayErrorCode::kQueueFull:
          return fail(Errc::kLimitExceeded, "the recipient's mailbox on the relay is full");
        case wire::RelayErrorCode::kEscrowClosed:
          return fail(Errc::kConflict, "the escrow exchange is already released or expired");
        case wire::RelayErrorCode::kEscrowDuplicate:
          return fail(Errc::kDuplicate, "this side has already deposited in the escrow exchange");
        case wire::RelayErrorCode::kEscrowBadDeadline:
          return fail(Errc::kMalformed, "the relay refused the escrow deadline (past or too far)");
        case wire::RelayErrorCode::kEscrowSameQueue:
          return fail(Errc::kMalformed, "an escrow exchange needs two different queues");
        case wire::RelayErrorCode::kRateLimited:
        case wire::RelayErrorCode::kRelayFull:
        case wire::RelayErrorCode::kStorageUnavailable:
          return fail(Errc::kUnavailable, "relay refused: " + name);
        default:
          return fail(Errc::kNotFound, "relay refused: " + name);
      }
    }
    return std::move(parsed->message);
  }
}

Result<wire::QueueCreated> RelayLink::create_queue(const crypto::Ed25519PublicKey& owner) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, request(codec_->create_queue(owner)));
  auto* created = std::get_if<wire::QueueCreated>(&reply);
  if (created == nullptr) return fail(Errc::kMalformed, "relay answered create_queue unexpectedly");
  return *created;
}

Result<void> RelayLink::subscribe(const wire::QueueId& recipient_id,
                                  const crypto::Ed25519PrivateKey& owner) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply,
                      request(codec_->subscribe(recipient_id, owner, challenge_)));
  if (!std::holds_alternative<wire::Ok>(reply)) {
    return fail(Errc::kMalformed, "relay answered subscribe unexpectedly");
  }
  return ok();
}

Result<wire::DepositReceipt> RelayLink::deposit(const wire::QueueId& sender_id, ByteView envelope) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, request(codec_->deposit(sender_id, envelope)));
  const auto* receipt = std::get_if<wire::DepositReceipt>(&reply);
  if (receipt == nullptr) return fail(Errc::kMalformed, "relay answered deposit unexpectedly");
  return *receipt;
}

Result<void> RelayLink::ack(const wire::QueueId& recipient_id, wire::MessageId message_id) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, request(codec_->ack(recipient_id, message_id)));
  if (!std::holds_alternative<wire::Ok>(reply)) {
    return fail(Errc::kMalformed, "relay answered ack unexpectedly");
  }
  return ok();
}

Result<void> RelayLink::ack_all(const std::vector<Acknowledgement>& delivered) {
  // Per queue, the message ids in increasing order without repeats (a push the relay repeated
  // is acknowledged once), in requests of at most wire::kMaxAckMany.
  std::map<wire::QueueId, std::vector<wire::MessageId>> by_queue;
  for (const auto& [recipient_id, message_id] : delivered) {
    by_queue[recipient_id].push_back(message_id);
  }
  // The relay answers in order: send every request, then collect the answers.
  std::vector<wire::RequestId> ids;
  for (auto& [recipient_id, message_ids] : by_queue) {
    std::sort(message_ids.begin(), message_ids.end());
    message_ids.erase(std::unique(message_ids.begin(), message_ids.end()), message_ids.end());
    for (std::size_t at = 0; at < message_ids.size(); at += wire::kMaxAckMany) {
      const std::size_t end = std::min(message_ids.size(), at + wire::kMaxAckMany);
      std::vector<wire::MessageId> chunk(message_ids.begin() + static_cast<std::ptrdiff_t>(at),
                                         message_ids.begin() + static_cast<std::ptrdiff_t>(end));
      BC_ASSIGN_OR_RETURN(const wire::RequestId id,
                          send_request(codec_->ack_many(recipient_id, std::move(chunk))));
      ids.push_back(id);
    }
  }
  for (const wire::RequestId id : ids) {
    BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, await_reply(id));
    if (!std::holds_alternative<wire::Ok>(reply)) {
      return fail(Errc::kMalformed, "relay answered ack_many unexpectedly");
    }
  }
  return ok();
}

Result<wire::EscrowOpened> RelayLink::escrow_open(std::int64_t deadline_ms,
                                                  const wire::QueueId& queue_a,
                                                  const wire::QueueId& queue_b) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply,
                      request(codec_->escrow_open(deadline_ms, queue_a, queue_b)));
  auto* opened = std::get_if<wire::EscrowOpened>(&reply);
  if (opened == nullptr) return fail(Errc::kMalformed, "relay answered escrow_open unexpectedly");
  return *opened;
}

Result<wire::EscrowHash> RelayLink::escrow_deposit(const wire::ExchangeId& exchange_id,
                                                   const wire::EscrowToken& token,
                                                   ByteView envelope) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply,
                      request(codec_->escrow_deposit(exchange_id, token, envelope)));
  auto* deposited = std::get_if<wire::EscrowDeposited>(&reply);
  if (deposited == nullptr) {
    return fail(Errc::kMalformed, "relay answered escrow_deposit unexpectedly");
  }
  return deposited->envelope_hash;
}

Result<void> RelayLink::escrow_cancel(const wire::ExchangeId& exchange_id,
                                      const wire::EscrowToken& token) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, request(codec_->escrow_cancel(exchange_id, token)));
  if (!std::holds_alternative<wire::Ok>(reply)) {
    return fail(Errc::kMalformed, "relay answered escrow_cancel unexpectedly");
  }
  return ok();
}

Result<wire::EscrowState> RelayLink::escrow_status(const wire::ExchangeId& exchange_id,
                                                   const wire::EscrowToken& token) {
  BC_ASSIGN_OR_RETURN(wire::RelayMessage reply, request(codec_->escrow_status(exchange_id, token)));
  auto* state = std::get_if<wire::EscrowState>(&reply);
  if (state == nullptr) return fail(Errc::kMalformed, "relay answered escrow_status unexpectedly");
  return std::move(*state);
}

Result<std::optional<wire::Delivery>> RelayLink::next_delivery(std::uint32_t timeout_ms) {
  if (!pending_.empty()) {
    wire::Delivery d = std::move(pending_.front());
    pending_.pop_front();
    return std::optional<wire::Delivery>(std::move(d));
  }
  if (!connection_) return fail(Errc::kUnavailable, "relay connection is closed");
  for (;;) {
    auto raw = connection_->receive_for(timeout_ms);
    if (!raw) {
      connection_.reset();
      if (raw.error().detail.find("timeout") != std::string::npos ||
          raw.error().detail.find("timed out") != std::string::npos) {
        return std::optional<wire::Delivery>();
      }
      return fail(Errc::kUnavailable, "relay connection lost: " + raw.error().detail);
    }
    auto parsed = relay::RelayClientCodec::parse(*raw);
    if (!parsed) {
      connection_.reset();
      return fail(Errc::kMalformed, "relay sent an unreadable frame");
    }
    if (auto* delivery = std::get_if<wire::Delivery>(&parsed->message)) {
      return std::optional<wire::Delivery>(std::move(*delivery));
    }
  }
}

Result<std::vector<wire::Delivery>> RelayLink::next_deliveries(std::uint32_t timeout_ms,
                                                               std::size_t max) {
  std::vector<wire::Delivery> out;
  BC_ASSIGN_OR_RETURN(auto first, next_delivery(timeout_ms));
  if (!first) return out;
  out.push_back(std::move(*first));
  while (out.size() < max && !pending_.empty()) {
    out.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return out;
}

void RelayLink::close() {
  if (connection_) connection_->close();
  connection_.reset();
}

}  // namespace bc::client
