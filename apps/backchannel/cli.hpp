// The backchannel command line: argument parsing, passphrase input, output (human and --json).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backchannel/client.hpp"

namespace bc::cli {

// run executes one command line (argv without the program name) and returns the exit status:
// 0 success, 1 failure at run time (e.g. an unreachable relay), 2 bad usage or input.
int run(const std::vector<std::string>& args);

// run_demo runs the end-to-end demonstration (`backchannel demo`), finding backchannel-relay
// beside this program.
int run_demo(bool json);

// AssureContext is what `backchannel assure ...` takes from the command line around it: output
// mode, how to open the home (passphrase), and how errors are reported (returns the exit code).
struct AssureContext {
  bool json = false;
  std::function<Result<std::unique_ptr<client::Client>>()> open;
  std::function<int(const Error&)> report;
};

// run_assure runs `backchannel assure WORDS...` (apps/backchannel/assure_cli.cpp).
int run_assure(const AssureContext& ctx, const std::vector<std::string>& words);

}  // namespace bc::cli
