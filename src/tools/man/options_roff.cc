#include "options_roff.h"

#include <fmt/format.h>

#include <cctype>

namespace bcl {

namespace {

// Text without markup: escapes only.
std::string escaped(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '-')
            out += "\\-";
        else if (c == '\\')
            out += "\\e";
        else
            out.push_back(c);
    }
    return out;
}

// A paragraph: the description when there is no man text, as a sentence.
std::string paragraph_of(const OptionSpec& spec) {
    if (!spec.man.empty()) return std::string(spec.man);
    std::string text(spec.description);
    if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
    return text + ".";
}

// The tag line: name=VALUE, name=a|b|c, name[=BOOL] or name.
std::string tag_of(const OptionSpec& spec) {
    const std::string name = escaped(spec.name);
    switch (spec.kind) {
    case OptionKind::boolean: return fmt::format("\\fB{}\\fR[\\fB=\\fIBOOL\\fR]", name);
    case OptionKind::kernel_flag: return fmt::format("\\fB{}\\fR", name);
    case OptionKind::choice: {
        std::string out = fmt::format("\\fB{}=", name);
        for (std::size_t from = 0;;) {
            const std::size_t bar = spec.value_name.find('|', from);
            out += escaped(spec.value_name.substr(from, bar == std::string_view::npos ? bar : bar - from));
            if (bar == std::string_view::npos) break;
            out += "\\fR|\\fB";
            from = bar + 1;
        }
        return out + "\\fR";
    }
    default: return fmt::format("\\fB{}=\\fI{}\\fR", name, escaped(spec.value_name));
    }
}

std::string default_line(const OptionSpec& spec) {
    if (spec.default_text == "required") return "Required; there is no default.\n";
    if (spec.default_text.empty()) return {};
    return fmt::format("Default: {}.\n", escaped(spec.default_text));
}

std::string render_option(const OptionSpec& spec) {
    return fmt::format(".TP\n{}\n{}\n{}", tag_of(spec), roff_text(paragraph_of(spec)), default_line(spec));
}

// The options for fstab and other programs, in one sentence.
std::string render_ignored(std::span<const OptionSpec> options) {
    std::string names;
    for (const OptionSpec& spec : options) {
        if (spec.kind != OptionKind::ignored) continue;
        if (!names.empty()) names += ", ";
        names +=
            "\\fB" + escaped(spec.name) + (spec.value_name.empty() ? "" : "=\\fI" + escaped(spec.value_name)) + "\\fR";
    }
    return names +
           "\nare accepted and ignored: they are meant for mount(8), systemd and other programs reading\n"
           "\\fI/etc/fstab\\fR.\n";
}

const OptionSection* section_starting_at(std::span<const OptionSection> sections, std::string_view name) {
    for (const OptionSection& s : sections)
        if (s.first == name) return &s;
    return nullptr;
}

}  // namespace

std::string roff_text(std::string_view markup) {
    std::string out;
    bool bold = false;
    bool italic = false;
    for (char c : markup) {
        if (c == '*') {
            out += bold ? "\\fR" : "\\fB";
            bold = !bold;
        } else if (c == '{' || c == '}') {
            out += c == '{' ? "\\fI" : "\\fR";
            italic = c == '{';
        } else {
            out += escaped(std::string_view(&c, 1));
        }
    }
    if (bold || italic) out += "\\fR";
    // A text line that starts with '.' or '\'' would be read as a request.
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

std::string render_mount_options(std::span<const OptionSpec> options, std::span<const OptionSection> sections) {
    std::string out = ".SH MOUNT OPTIONS\n";
    bool ignored_done = false;
    for (const OptionSpec& spec : options) {
        if (const OptionSection* s = section_starting_at(sections, spec.name)) {
            out += fmt::format(".SS {}\n", s->title);
            if (!s->intro.empty()) out += roff_text(s->intro) + "\n";
            if (spec.is_tunable())
                out += "They can be changed while mounted through the extended attributes of the same names.\n";
        }
        if (spec.kind == OptionKind::ignored) {
            if (!ignored_done) out += render_ignored(options);
            ignored_done = true;
            continue;
        }
        out += render_option(spec);
    }
    return out;
}

}  // namespace bcl
