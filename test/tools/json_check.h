// A small strict JSON parser for the tests of bcachefs-lite-ctl's --json
// output: it accepts RFC 8259 JSON only (no trailing commas, no control
// characters in strings, nothing after the value but white space) and
// gives the value as a tree to check keys and values in.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcl::test {

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string text;  // a number as written, or a string's decoded value
    std::vector<Json> array;
    std::map<std::string, Json> object;

    bool has(const std::string& key) const { return kind == Kind::object && object.count(key) != 0; }
    const Json& operator[](const std::string& key) const { return object.at(key); }
};

class JsonParser {
public:
    // The value of `text`, or nullopt with error() saying where it failed.
    std::optional<Json> parse(std::string_view text) {
        s_ = text;
        i_ = 0;
        error_.clear();
        Json v;
        if (!value(v, 0)) return std::nullopt;
        skip_ws();
        if (i_ != s_.size()) return fail("text after the value");
        return v;
    }
    const std::string& error() const { return error_; }

private:
    std::nullopt_t fail(const std::string& what) {
        if (error_.empty()) error_ = what + " at offset " + std::to_string(i_);
        return std::nullopt;
    }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return false;
        i_ += word.size();
        return true;
    }
    bool value(Json& v, int depth) {
        if (depth > 64) return (fail("too deep"), false);
        skip_ws();
        if (i_ >= s_.size()) return (fail("end of text"), false);
        const char c = s_[i_];
        if (c == '{') return object(v, depth);
        if (c == '[') return array(v, depth);
        if (c == '"') {
            v.kind = Json::Kind::string;
            return string(v.text);
        }
        if (literal("null")) return (v.kind = Json::Kind::null, true);
        if (literal("true")) return (v.kind = Json::Kind::boolean, v.boolean = true, true);
        if (literal("false")) return (v.kind = Json::Kind::boolean, v.boolean = false, true);
        return number(v);
    }
    bool number(Json& v) {
        const std::size_t start = i_;
        auto digits = [&] {
            const std::size_t from = i_;
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
            return i_ > from;
        };
        if (i_ < s_.size() && s_[i_] == '-') ++i_;
        if (i_ < s_.size() && s_[i_] == '0')
            ++i_;
        else if (!digits())
            return (fail("not a value"), false);
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (!digits()) return (fail("no digits after '.'"), false);
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (!digits()) return (fail("no exponent digits"), false);
        }
        v.kind = Json::Kind::number;
        v.text = std::string(s_.substr(start, i_ - start));
        v.number = std::strtod(v.text.c_str(), nullptr);
        return true;
    }
    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    bool string(std::string& out) {
        ++i_;  // '"'
        while (i_ < s_.size()) {
            const unsigned char c = static_cast<unsigned char>(s_[i_++]);
            if (c == '"') return true;
            if (c < 0x20) return (fail("a control character in a string"), false);
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (i_ >= s_.size()) break;
            const char e = s_[i_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                if (i_ + 4 > s_.size()) return (fail("a short \\u escape"), false);
                std::uint32_t cp = 0;
                for (int k = 0; k < 4; ++k) {
                    const char h = s_[i_++];
                    cp <<= 4;
                    if (h >= '0' && h <= '9')
                        cp |= static_cast<std::uint32_t>(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
                    else
                        return (fail("a bad \\u escape"), false);
                }
                append_utf8(out, cp);
                break;
            }
            default: return (fail("a bad escape"), false);
            }
        }
        return (fail("an unterminated string"), false);
    }
    bool array(Json& v, int depth) {
        v.kind = Json::Kind::array;
        ++i_;
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ']') return (++i_, true);
        for (;;) {
            Json item;
            if (!value(item, depth + 1)) return false;
            v.array.push_back(std::move(item));
            skip_ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == ']') return (++i_, true);
            return (fail("expected ',' or ']'"), false);
        }
    }
    bool object(Json& v, int depth) {
        v.kind = Json::Kind::object;
        ++i_;
        skip_ws();
        if (i_ < s_.size() && s_[i_] == '}') return (++i_, true);
        for (;;) {
            skip_ws();
            if (i_ >= s_.size() || s_[i_] != '"') return (fail("expected a key"), false);
            std::string key;
            if (!string(key)) return false;
            if (v.object.count(key) != 0) return (fail("duplicate key " + key), false);
            skip_ws();
            if (i_ >= s_.size() || s_[i_] != ':') return (fail("expected ':'"), false);
            ++i_;
            Json item;
            if (!value(item, depth + 1)) return false;
            v.object.emplace(std::move(key), std::move(item));
            skip_ws();
            if (i_ < s_.size() && s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == '}') return (++i_, true);
            return (fail("expected ',' or '}'"), false);
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string error_;
};

}  // namespace bcl::test
