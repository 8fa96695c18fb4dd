#include "bcachefs_lite/util/log.h"

#include <syslog.h>
#include <unistd.h>

namespace bcl {

const char* log_level_name(LogLevel level) {
    switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warning";
    case LogLevel::error: return "error";
    }
    return "?";
}

void Logger::stderr_sink(LogLevel level, std::string_view line) {
    std::string out = fmt::format("bcachefs-lite: {}: {}\n", log_level_name(level), line);
    // One write so lines from different threads never interleave.
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, out.data(), out.size());
}

void Logger::syslog_sink(LogLevel level, std::string_view line) {
    int prio = LOG_INFO;
    switch (level) {
    case LogLevel::debug: prio = LOG_DEBUG; break;
    case LogLevel::info: prio = LOG_INFO; break;
    case LogLevel::warn: prio = LOG_WARNING; break;
    case LogLevel::error: prio = LOG_ERR; break;
    }
    ::syslog(prio, "%.*s", static_cast<int>(line.size()), line.data());
}

}  // namespace bcl
