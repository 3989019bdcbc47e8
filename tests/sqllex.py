"""A minimal Flink SQL lexer for tests: enough to see statement ends, comments, hints, identifiers and literals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str  # ident (backticked), string, word, symbol, comment, hint (`/*+ ... */`)
    text: str  # for ident/string: the decoded value


def tokenize(sql: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif c == "`":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise ValueError(f"unterminated identifier at {i}")
                if sql[j] == "`":
                    if j + 1 < n and sql[j + 1] == "`":
                        buf.append("`")
                        j += 2
                        continue
                    break
                buf.append(sql[j])
                j += 1
            out.append(Token("ident", "".join(buf)))
            i = j + 1
        elif c == "'" or (sql.startswith("U&'", i)):
            unicode = c == "U"
            j = i + (3 if unicode else 1)
            buf = []
            while True:
                if j >= n:
                    raise ValueError(f"unterminated string at {i}")
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                if unicode and sql[j] == "\\":
                    if sql[j + 1] == "\\":
                        buf.append("\\")
                        j += 2
                    elif sql[j + 1] == "+":
                        buf.append(chr(int(sql[j + 2 : j + 8], 16)))
                        j += 8
                    else:
                        buf.append(chr(int(sql[j + 1 : j + 5], 16)))
                        j += 5
                    continue
                buf.append(sql[j])
                j += 1
            out.append(Token("string", "".join(buf)))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(Token("comment", sql[i:j]))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i)
            if j < 0:
                raise ValueError("unterminated comment")
            out.append(Token("hint" if sql.startswith("/*+", i) else "comment", sql[i : j + 2]))
            i = j + 2
        elif c.isalnum() or c == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] in "_.$"):
                j += 1
            out.append(Token("word", sql[i:j]))
            i = j
        else:
            out.append(Token("symbol", c))
            i += 1
    return out
