// The Backchannel client API: one user's home (identity, contacts, sessions, messages) and every
// operation of the `backchannel` command line. Programs that embed the client use only this.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace bc::client {

// KdfCost picks the Argon2id cost that seals a new home: kModerate (default, 256 MiB),
// kInteractive (64 MiB), kMinimum (tests and demos only).
enum class KdfCost : std::uint8_t { kModerate, kInteractive, kMinimum };

// ClientOptions tune a client. Clock and Rng default to the system's.
struct ClientOptions {
  Clock* clock = nullptr;
  Rng* rng = nullptr;
  std::uint32_t relay_timeout_ms = 10'000;
  // sync_quiet_ms: sync stops once the relay has pushed nothing for this long.
  std::uint32_t sync_quiet_ms = 400;
  // watch_idle_ms: how long watch waits on a silent connection before it reconnects (and how
  // often it looks at its stop flag).
  std::uint32_t watch_idle_ms = 15'000;
  // relay_grace_ms: with two relays, how long after one relay delivered a message the other may
  // still deliver it before it is reported as withholding (default 2 minutes).
  std::int64_t relay_grace_ms = 2LL * 60 * 1000;
  // invitation_validity_ms: how long an invitation code works (default 7 days).
  std::int64_t invitation_validity_ms = 7LL * 24 * 60 * 60 * 1000;
  // heartbeat_interval_ms: when non-zero, sync and watch send a heartbeat (an empty message that
  // shows in no history) to each contact nothing was sent to for this long, so that a relay
  // withholding everything is noticed ("silent"). 0 (the default) uses the home's setting
  // (set_heartbeat_interval), which is off unless set.
  std::uint32_t heartbeat_interval_ms = 0;
};

// ContactInfo describes one contact.
struct ContactInfo {
  std::string alias;
  std::string name;               // the name the contact chose for itself
  std::string identity_key_hex;   // 33-byte identity key
  std::string introduced_by;      // alias of the mediator who introduced us; empty if direct
  bool verified = false;          // safety number compared and confirmed
  bool identity_changed = false;  // the key changed since it was confirmed: sending is blocked
  bool session_ready = false;     // a session exists (we can send)
  std::string relay_url;
  std::int64_t added_ms = 0;
};

// ReceiptInfo is a relay's signed receipt for a message (docs/relay-protocol.md, "Receipts"):
// the queue's sequence number and the relay's time, checked against the relay's pinned signing
// key before it is kept. "deposit": the relay's answer to our deposit; "delivery": what came
// with the envelope when the relay delivered it to us.
struct ReceiptInfo {
  std::string relay_url;
  std::uint64_t seq = 0;
  std::int64_t relay_time_ms = 0;
  std::string envelope_hash_hex;  // SHA-256 of the envelope
  std::string signature_hex;      // the relay's Ed25519 signature (over its batch's root)
  std::string direction;          // "deposit" | "delivery"
  // The receipt's place in the batch the relay signed at once: how many receipts, which one, and
  // the Merkle path up to the root (64 hex digits per hash). batch_size 0: a receipt the relay
  // signed on its own (relays before batch signing), with no path.
  std::uint32_t batch_size = 0;
  std::uint32_t batch_index = 0;
  std::string batch_path_hex;
};

// MessageInfo is one message of a conversation.
struct MessageInfo {
  std::string alias;
  bool outgoing = false;
  std::string kind;  // "text", "file", ... or "undecryptable"
  std::string text;  // text, file name, or the reason it could not be read
  std::string message_id_hex;
  std::int64_t sent_ms = 0;           // sender's clock
  std::int64_t received_ms = 0;       // our clock (0 for outgoing)
  std::string status;                 // outgoing: "queued" | "sent"; incoming: "received"
  std::size_t size = 0;               // body bytes
  std::vector<ReceiptInfo> receipts;  // one per relay that took it (filled by history)
};

// IntroductionInfo describes an introduction, as the mediator or as one of the parties sees it.
struct IntroductionInfo {
  std::string id;                  // hex
  std::string role;                // "mediator" | "party"
  std::string mediator;            // party: the mediator's alias
  std::string other;               // party: the proposed contact's name; mediator: "A + B"
  std::string other_identity_hex;  // party: the proposed contact's identity key
  std::string state;               // "offered" | "accepted" | "declined" | "completed"
  std::int64_t created_ms = 0;
};

// AssuranceTerms is what a new assurance says (docs/assurances.md).
struct AssuranceTerms {
  std::string statement;                       // 1..4096 bytes of UTF-8
  std::vector<std::string> conditions;         // up to 16
  std::optional<std::string> scope;            // optional
  std::optional<std::int64_t> valid_until_ms;  // default: 30 days from now
  bool binding = false;                        // signed by our identity key (provable)
  std::optional<std::string> reciprocates;     // id (hex) of the counterparty's assurance
};

// AssuranceStep is one lifecycle change and when it happened (our clock).
struct AssuranceStep {
  std::string state;  // proposed | delivered | acknowledged | reciprocated | withdrawn | expired
  std::int64_t at_ms = 0;
};

// AssuranceInfo describes an assurance we issued (outgoing) or received.
struct AssuranceInfo {
  std::string id;  // 32 hex digits
  std::string alias;
  bool outgoing = false;
  std::string mode;  // "deniable" | "binding"
  std::string statement;
  std::vector<std::string> conditions;
  std::string scope;  // empty when none
  std::int64_t valid_from_ms = 0;
  std::int64_t valid_until_ms = 0;
  std::string reciprocates;  // id this one answers (empty when none)
  std::string state;         // the current lifecycle state
  std::vector<AssuranceStep> history;
  std::string exchange_id;  // the escrow exchange it went through (empty: direct)
  std::string issuer_key_hex;
  std::string counterparty_key_hex;
};

// EscrowInfo describes an escrowed exchange as this side sees it.
struct EscrowInfo {
  std::string exchange_id;
  std::string alias;
  std::string role;   // "opener" | "counterparty"
  std::string state;  // open | deposited | released | expired | cancelled | disputed
  std::int64_t deadline_ms = 0;
  std::string relay_url;
  std::string own_assurance;       // id of our deposited assurance (empty before deposit)
  std::string received_assurance;  // id of the counterparty's assurance once released to us
  std::string own_deposit_sha256;
  std::string received_deposit_sha256;
  std::int64_t released_ms = 0;  // the relay's release time, from its certificate
  std::string problem;           // why the exchange is disputed (empty otherwise)
};

// VerifiedExport is what `assure verify` found in an exported file.
struct VerifiedExport {
  std::string kind;                        // "assurance" | "release"
  std::optional<AssuranceInfo> assurance;  // kind "assurance", and a release's assurances
  std::vector<AssuranceInfo> released;     // kind "release": the assurances it carries
  std::optional<EscrowInfo> escrow;        // kind "release"
  std::string relay_signing_key_hex;       // kind "release": the key the certificate checks with
  bool relay_fault = false;           // kind "release": the file proves the relay released unfairly
  std::vector<std::string> findings;  // one line per check made
};

// EventKind is what sync/watch reports.
enum class EventKind : std::uint8_t {
  kMessage,
  kContactAdded,
  kIntroductionOffered,
  kIntroductionCompleted,
  kIntroductionDeclined,
  kUndecryptable,
  kWarning,
  kAlert,
  kAssurance,  // an assurance arrived or changed state (Event::assurance)
  kEscrow,     // an escrowed exchange opened, released, expired or is disputed (Event::escrow)
};

// AlertInfo is a finding about the channel itself: something the relay (or the network) did to
// the conversation that the two parties should know about. Codes are stable:
//   "missing"    a gap: messages the sender sent have not arrived
//   "replayed"   a message or envelope delivered again (including an old PreKeySignalMessage)
//   "reordered"  a message arrived after later ones (it fills a gap)
//   "altered"    a tampered, truncated or undecryptable envelope, or a broken hash chain
//   "diverged"   the two sides' transcripts differ
//   "silent"     no message or heartbeat from the contact for two heartbeat intervals
//   "relay_withholding"  a second relay delivered what this one did not
//   "bad_receipt"        a relay receipt whose signature does not verify
//   "escrow_mismatch"    a released deposit (ours or the counterparty's) is not the certified one
//   "escrow_withheld"    the relay certified a release but our copy never arrived
//   "escrow_early_release"  the relay released the counterparty's deposit before ours was in
//   "escrow_bad_certificate"  a release certificate that does not verify
//   "escrow_unknown"     a deposit for an exchange we do not know, or from the wrong contact
// first_seq..last_seq name the sender's conversation sequence numbers concerned (0 when not
// known, e.g. for an envelope that could not be decrypted).
struct AlertInfo {
  std::string code;
  std::string alias;
  std::string relay_url;
  std::string text;  // one sentence for the user
  std::int64_t at_ms = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
};

// Event is one thing sync/watch found.
struct Event {
  EventKind kind = EventKind::kMessage;
  std::string alias;  // the contact concerned (if any)
  std::string text;   // human-readable detail
  std::optional<MessageInfo> message;
  std::optional<IntroductionInfo> introduction;
  std::optional<AlertInfo> alert;  // set for kAlert
  std::optional<AssuranceInfo> assurance;
  std::optional<EscrowInfo> escrow;
};

// event_kind_name gives "message", "contact_added", ...
[[nodiscard]] std::string event_kind_name(EventKind kind);

// InvitationInfo is a freshly made invitation.
struct InvitationInfo {
  std::string code;  // one line, starts with "bc1"
  std::string id_hex;
  std::int64_t expires_ms = 0;
};

// TranscriptEntry is one message of a conversation's hash chain: numbers and hashes, no content.
struct TranscriptEntry {
  bool outgoing = false;
  std::string kind;  // "text", "heartbeat", ...
  std::uint64_t seq = 0;
  std::string hash_hex;
  std::string prev_hash_hex;
  std::uint64_t acked_seq = 0;  // the last message of the other side the sender had received
  std::string relay_url;        // the relay that accepted (ours) or delivered (theirs) it
  std::uint64_t relay_seq = 0;  // its sequence number there (0: not known)
  std::int64_t relay_time_ms = 0;
  std::int64_t sent_ms = 0;
  std::int64_t received_ms = 0;
};

// TranscriptCheck is the consistency state of a conversation's chain (`transcript`), or what an
// exported transcript file shows (`transcript verify`).
struct TranscriptCheck {
  bool consistent = true;               // no finding
  std::uint64_t sent = 0;               // our messages in the chain
  std::uint64_t received = 0;           // theirs
  std::uint64_t receipts_verified = 0;  // relay receipts whose signature checks (verify only)
  std::vector<std::string> findings;    // one line each: missing, altered, replayed, diverged
  std::string our_identity_hex;
  std::string their_identity_hex;
  std::vector<TranscriptEntry> entries;  // ours, then theirs, each by sequence number
};

// SafetyNumber is what `verify` shows.
struct SafetyNumber {
  std::string alias;
  std::string digits;  // 60 digits
  Bytes scannable;     // QR payload
  bool verified = false;
};

// RelayInfo is a configured relay.
struct RelayInfo {
  std::string url;
  std::string fingerprint_hex;
  std::string signing_key_hex;  // the relay's Ed25519 receipt key, pinned at relay_add
};

// HeldEnvelope is one envelope a relay holds for this user: what the relay itself can see.
struct HeldEnvelope {
  std::string relay_url;
  std::string queue_id_hex;        // the recipient id of the queue (random, names no one)
  std::uint64_t message_id = 0;    // the relay's sequence number
  std::size_t size = 0;            // padded size (a bucket)
  std::int64_t relay_time_ms = 0;  // when the relay accepted it
};

class Client {
 public:
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // init creates a new home under `home` (made if missing, mode 0700) with a fresh identity.
  // kConflict when a home exists there; kMalformed for an empty or over-long name.
  [[nodiscard]] static Result<std::unique_ptr<Client>> init(const std::string& home,
                                                            ByteView passphrase,
                                                            const std::string& name, KdfCost cost,
                                                            ClientOptions options = {});
  // open opens an existing home. kNotFound when there is none, kAuthFailed for a wrong
  // passphrase, kMalformed for a damaged store file (nothing is written on failure).
  [[nodiscard]] static Result<std::unique_ptr<Client>> open(const std::string& home,
                                                            ByteView passphrase,
                                                            ClientOptions options = {});

  // name is the name this user chose; identity_key_hex its 33-byte identity key.
  [[nodiscard]] Result<std::string> name();
  [[nodiscard]] Result<std::string> identity_key_hex();

  // relay_add records a relay (URL wss://HOST:PORT and its certificate's SHA-256) after checking
  // that it answers with that certificate. The first relay added is the one new queues go to; a
  // second (another operator's) gets a queue too, and later contacts are reached through both.
  // kMalformed for a bad URL or fingerprint, kAuthFailed when the certificate differs,
  // kUnavailable when it cannot be reached, kLimitExceeded for a third relay.
  [[nodiscard]] Result<RelayInfo> relay_add(const std::string& url,
                                            const std::string& fingerprint_hex);
  [[nodiscard]] Result<std::vector<RelayInfo>> relays();

  // invite_create makes a one-time invitation code (a new queue on the first relay and a fresh
  // one-time prekey). kNotFound when no relay is configured.
  [[nodiscard]] Result<InvitationInfo> invite_create();
  // invite_accept opens a session from a code and tells its issuer (through the relay); the
  // issuer lists us as a contact at its next sync. kMalformed for a damaged code, kConflict for
  // an expired code, an alias in use or our own code, kAuthFailed for a bad signature.
  [[nodiscard]] Result<ContactInfo> invite_accept(const std::string& code,
                                                  const std::optional<std::string>& alias);

  // introduce (mediator) offers contacts `a` and `b` to each other. Returns the introduction id.
  [[nodiscard]] Result<std::string> introduce(const std::string& a, const std::string& b);
  [[nodiscard]] Result<std::vector<IntroductionInfo>> introductions();
  // intro_accept / intro_decline answer an introduction offered to us (kNotFound if unknown,
  // kConflict if already answered).
  [[nodiscard]] Result<void> intro_accept(const std::string& id);
  [[nodiscard]] Result<void> intro_decline(const std::string& id);

  [[nodiscard]] Result<std::vector<ContactInfo>> contacts();
  // verify computes the safety number with a contact; with confirm, records that it was compared
  // (and unblocks sending after an identity change).
  [[nodiscard]] Result<SafetyNumber> verify(const std::string& alias, bool confirm);

  // send_text / send_file encrypt and deposit a message. kNotFound for an unknown alias,
  // kUntrustedIdentity when the contact's identity changed since it was confirmed, kConflict when
  // no session exists yet, kUnavailable when the relay cannot be reached (the message stays
  // queued and goes out with the next send or sync).
  [[nodiscard]] Result<MessageInfo> send_text(const std::string& alias, const std::string& text);
  [[nodiscard]] Result<MessageInfo> send_file(const std::string& alias, const std::string& path);

  // sync connects to every relay, receives what is pending, decrypts, stores, acknowledges, and
  // returns what happened. kUnavailable when a relay cannot be reached (what was received before
  // is kept).
  [[nodiscard]] Result<std::vector<Event>> sync();
  // watch stays connected and calls on_event as things arrive, reconnecting after failures,
  // until `stop` becomes true. Fails only on a local error (the store).
  [[nodiscard]] Result<void> watch(const std::function<void(const Event&)>& on_event,
                                   const std::atomic<bool>& stop);

  // held_by_relays lists what the relays hold for us right now, without taking or deleting
  // anything. kUnavailable when a relay cannot be reached.
  [[nodiscard]] Result<std::vector<HeldEnvelope>> held_by_relays();

  // history returns a contact's conversation, oldest first.
  [[nodiscard]] Result<std::vector<MessageInfo>> history(const std::string& alias);

  // set_heartbeat_interval records this home's heartbeat interval (0: off); heartbeat_interval
  // gives the one in effect (ClientOptions first).
  [[nodiscard]] Result<void> set_heartbeat_interval(std::uint32_t interval_ms);
  [[nodiscard]] Result<std::uint32_t> heartbeat_interval();

  // transcript checks a contact's hash chain as this side recorded it (kNotFound: unknown alias).
  [[nodiscard]] Result<TranscriptCheck> transcript(const std::string& alias);
  // transcript_export writes the chain to `path` (hashes, numbers and relay sequence numbers,
  // no content: the content stays deniable). kUnavailable when it cannot be written.
  [[nodiscard]] Result<void> transcript_export(const std::string& alias, const std::string& path);
  // transcript_verify checks an exported file offline, without a home. kMalformed when it is not
  // an intact transcript file; findings otherwise.
  [[nodiscard]] static Result<TranscriptCheck> transcript_verify(const std::string& path);

  // alerts returns the alerts raised about a contact's conversation, oldest first (every
  // contact's when alias is empty). kNotFound for an unknown alias.
  [[nodiscard]] Result<std::vector<AlertInfo>> alerts(const std::string& alias);
  // ---- assurances (docs/assurances.md) ----
  // assure_propose sends an assurance to a contact inside the session (signed with our identity
  // key when binding). kNotFound for an unknown alias or reciprocated id, kMalformed for terms
  // that break a bound, kUntrustedIdentity / kConflict as send_text, kUnavailable when the
  // relay cannot be reached (it stays queued, state "proposed").
  [[nodiscard]] Result<AssuranceInfo> assure_propose(const std::string& alias,
                                                     const AssuranceTerms& terms);
  // assurances lists every assurance, oldest first; assurance shows one (kNotFound).
  [[nodiscard]] Result<std::vector<AssuranceInfo>> assurances();
  [[nodiscard]] Result<AssuranceInfo> assurance(const std::string& id);
  // assure_ack acknowledges an assurance we received; assure_withdraw withdraws one we issued
  // (a signed withdrawal when it was binding). kNotFound, or kConflict when the lifecycle does
  // not allow it (already withdrawn or expired, not ours to withdraw or acknowledge).
  [[nodiscard]] Result<AssuranceInfo> assure_ack(const std::string& id);
  [[nodiscard]] Result<AssuranceInfo> assure_withdraw(const std::string& id);
  // assure_export writes an assurance (by id) or an exchange's release certificate and what
  // checks it (by exchange id) to `path`; returns "assurance" or "release". kNotFound,
  // kConflict for an exchange not released, kUnavailable when the file cannot be written.
  [[nodiscard]] Result<std::string> assure_export(const std::string& id, const std::string& path);
  // assure_verify checks an exported file offline, without a home. kMalformed when it is not
  // an export, kAuthFailed when a signature does not verify (a deniable assurance proves
  // nothing and always fails). For a release certificate whose deposits do not match what the
  // relay certified, it succeeds with relay_fault set: the file is proof against the relay.
  [[nodiscard]] static Result<VerifiedExport> assure_verify(const std::string& path);

  // escrow_open opens an escrowed exchange with a contact on the relay holding both of our
  // queues, tells the contact inside the session, and returns it. kNotFound (alias), kConflict
  // (our queues are on two relays), kMalformed (deadline not in the future).
  [[nodiscard]] Result<EscrowInfo> escrow_open(const std::string& alias,
                                               std::int64_t deadline_in_ms);
  // escrow_deposit deposits our assurance, encrypted for the counterparty, with the relay.
  // kNotFound (exchange), kConflict (closed, already deposited).
  [[nodiscard]] Result<EscrowInfo> escrow_deposit(const std::string& exchange_id,
                                                  const AssuranceTerms& terms);
  // escrow_cancel withdraws our deposit before release (kConflict once released or expired).
  [[nodiscard]] Result<EscrowInfo> escrow_cancel(const std::string& exchange_id);
  [[nodiscard]] Result<std::vector<EscrowInfo>> escrows();

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// default_home resolves the home directory: BACKCHANNEL_HOME, else $XDG_DATA_HOME/backchannel,
// else ~/.local/share/backchannel.
[[nodiscard]] std::string default_home();

}  // namespace bc::client
