// The backchannel command line: argument parsing, passphrase input, output (human and --json).
#pragma once

#include <string>
#include <vector>

namespace bc::cli {

// run executes one command line (argv without the program name) and returns the exit status:
// 0 success, 1 failure at run time (e.g. an unreachable relay), 2 bad usage or input.
int run(const std::vector<std::string>& args);

// run_demo runs the end-to-end demonstration (`backchannel demo`), finding backchannel-relay
// beside this program.
int run_demo(bool json);

}  // namespace bc::cli
