// bcl-man-options TEMPLATE OUTPUT: writes bcachefs-lite(8) from its
// template, the line "@MOUNT_OPTIONS@" replaced by the section rendered from
// the options table. Run by the build; not installed.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "options_roff.h"

namespace {

constexpr std::string_view kMarker = "@MOUNT_OPTIONS@\n";

int fail(const std::string& message) {
    std::fprintf(stderr, "bcl-man-options: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return fail("usage: bcl-man-options TEMPLATE OUTPUT");
    std::ifstream in(argv[1]);
    if (!in) return fail(fmt::format("cannot read {}", argv[1]));
    std::stringstream text;
    text << in.rdbuf();
    std::string page = text.str();
    const std::size_t at = page.find(kMarker);
    if (at == std::string::npos || page.find(kMarker, at + 1) != std::string::npos)
        return fail(
            fmt::format("{} must hold the line {} exactly once", argv[1], kMarker.substr(0, kMarker.size() - 1)));
    page.replace(at, kMarker.size(), bcl::render_mount_options(bcl::mount_option_table(), bcl::option_sections()));
    std::ofstream out(argv[2], std::ios::trunc);
    if (!(out << page) || !out.flush()) return fail(fmt::format("cannot write {}", argv[2]));
    return 0;
}
