#include <string>

#include "net/server.hpp"

namespace bc::net {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help,
            std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

std::string render_transport_metrics(const TransportStats& s) {
  std::string out;
  metric(out, "bc_transport_connections_open", "gauge", "Open TCP connections.",
         s.connections_open);
  metric(out, "bc_transport_connections_accepted_total", "counter", "Accepted TCP connections.",
         s.connections_accepted);
  metric(out, "bc_transport_connections_refused_total", "counter",
         "Connections refused at max_connections.", s.connections_refused);
  metric(out, "bc_transport_frames_in_total", "counter", "Binary WebSocket messages received.",
         s.frames_in);
  metric(out, "bc_transport_frames_out_total", "counter", "Binary WebSocket messages sent.",
         s.frames_out);
  metric(out, "bc_transport_frames_rejected_total", "counter",
         "Oversized, malformed or text frames (each closed its connection).", s.frames_rejected);
  metric(out, "bc_transport_write_queue_overflows_total", "counter",
         "Connections closed because their write queue was full.", s.write_queue_overflows);
  metric(out, "bc_transport_idle_timeouts_total", "counter",
         "Connections closed for completing no frame within idle_timeout_ms.", s.idle_timeouts);
  metric(out, "bc_transport_handshake_failures_total", "counter",
         "TLS, HTTP or WebSocket handshakes that failed or timed out.", s.handshake_failures);
  return out;
}

}  // namespace bc::net
