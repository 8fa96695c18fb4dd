// Reading the text output of `bcachefs-lite-ctl stats` in tests: its lines,
// and the value on a "  label   value" line.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace bcl::test {

inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The value on the "  label   value" line of the text output, or "".
inline std::string text_value(const std::string& text, const std::string& label) {
    for (const std::string& line : lines_of(text)) {
        if (line.rfind("  " + label + " ", 0) != 0) continue;
        std::string rest = line.substr(label.size() + 2);
        rest.erase(0, rest.find_first_not_of(' '));
        return rest;
    }
    return "";
}

}  // namespace bcl::test
