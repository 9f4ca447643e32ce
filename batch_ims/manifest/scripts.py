"""What text saved in each candidate code page looks like: its script, common letters first.

A reading of a manifest's bytes in the wrong code page is still "valid" most of the time
(GBK bytes decode as Big5, Korean or Cyrillic), but it is made of characters the people
of that script seldom write: GB2312's second level, Big5's less frequent block, JIS level
2, half-width katakana, Hangul syllables no Korean word uses, Latin words without an
ASCII letter, Cyrillic words with Latin letters in them or starting with Ы. Each code
page's standard sorts its characters into such blocks, so the blocks are the frequency
tiers used here:

- `COMMON`: the block the standard reserves for frequent characters (GB2312 level 1, Big5
  "frequently used", JIS level 1 and kana, Latin-1 letters, Russian letters) and the
  script's usual punctuation; for Hangul, whose standard block is in alphabetical order,
  the syllables of everyday Korean, listed below;
- `RARE`: the rest of the script (level 2 hanzi and kanji, hanja, extended Hangul, other
  Cyrillic letters, symbols);
- `FOREIGN`: anything else, which rules the reading out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

FOREIGN: Final = 0
RARE: Final = 1
COMMON: Final = 2
_CJK_PUNCTUATION: Final = frozenset("，。、：；！？（）《》〈〉“”‘’【】「」『』—…·・～　")
_LATIN_EXTRA: Final = frozenset("ŒœŠšŽžŸ")
_LATIN_MARKS: Final = frozenset("€‚„…†‡‰‹›‘’“”•–—™¡¢£¥§©«®°±²³´µ¶·¹º»¼½¾¿")
_RUSSIAN_EXTRA: Final = frozenset("Ёё")
_CYRILLIC_MARKS: Final = frozenset("«»—–“”„№…‘’•")
# The Hangul syllables of everyday Korean (words, names, loanwords), in KS X 1001 order;
# KS X 1001 holds 2,350, most of them rare (룀, 뻠, 똥...).
_HANGUL: Final = frozenset(
    "가각간갈감갑값갓강갖같개객거건걸검것게겠겨격견결겼경계고곡곤골곳공과관광괴교구국"
    "군굳굴권귀규균그극근글금급기긴길김까깨꺼께꼬꼭꾸꿈끄끝끼나낙난날남납낭내냈냉너널"
    "넘넣네녀년념녕노녹논놀놓뇌누눈뉴느는늘능니님다닥단닫달담답당대댁더덕던덜데델도독"
    "돈돌동돼되된될됩두둘드득든들듯등디따땅때떠떤또뜻띠라락란람랑래랜램랫량러럼럽렇레"
    "렉렌려력련렬렴렵령례로록론롭료루룰류률르른를름릅리린릴림립링마막만많말맛망맞매맥"
    "맨머먹먼멀멋메멘며면명모목몰몸못무묵문물므미민밀밑바박반받발밝밤방배백밴버번벌범"
    "법벗베벤벨벽변별병보복본볼봉부북분불붙뷰브블비빈빌빛빠빨뻐사삭산살삶삼상새색샌생"
    "샤서석선설섬섭성세섹센셀셔소속손솔송쇄쇼수숙순술숨쉬스슨슬습승시식신실심십싱싸쌍"
    "써쓰씨아악안앉알암압앙앞애액앤야약양어억언얼엄업없었에엔엘여역연열염엽였영예오옥"
    "온올옵와완왕외요욕용우욱운울움웃워원월웨웹위윈유육윤율으은을음응의이익인일임입있"
    "잉잊자작잔잘잠잡장재잭쟁저적전절점접정제젝젠져조족존졸종좋좌죄주죽준줄중즈즉즌즐"
    "즘증지직진질짐집짓징짜째쪽찌차착찬찰참창찾채책처척천철첨첩청체초촉촌총최추축춘출"
    "춤충취츠측층치칙친칠침칩카칸칼캐커컨컬컴케켓켜코콘콜쿠퀴크큰클큼키킨킬킹타탁탄탈"
    "탐탑탕태택탤터턴털테텍텐텔토톤톨통퇴투트특튼틀티틴팀팅파판팔패팩팬퍼페펜펴편평폐"
    "포폭폰폼표푸풀품풍퓨프플피픽핀필핑하학한할함합항해핵핸했행향허헌험헤헨혀혁현혈협"
    "형혜호혹혼홀홈홍화확환활황회획효후훈훌훨휘휴흐흑흔흘흥희흰히힌힘"
)
_CJK_OTHER: Final = (
    (0x2010, 0x206F),  # general punctuation
    (0x2100, 0x26FF),  # letter-like symbols, numbers, arrows, circled numbers, shapes
    (0x3000, 0x33FF),  # CJK symbols, kana, bopomofo, enclosed and compatibility forms
    (0x3400, 0x4DBF),  # Han, extension A
    (0x4E00, 0x9FFF),  # Han
    (0xF900, 0xFAFF),  # Han, compatibility
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # full-width and half-width forms
    (0x20000, 0x3FFFF),  # Han, extensions B and later
)
_WORD = re.compile(r"[^\W\d_]+")
_BAD_CYRILLIC_START = re.compile("^[ЪЫЬъыь]|(?<=[а-яё])[ЪЫЬ]")


@dataclass(frozen=True, slots=True)
class Reading:
    """The sample decoded in one code page: its text and the share of common characters."""

    encoding: str
    text: str
    common: float  # of the non-ASCII characters, the share in the COMMON tier


def read_as(sample: bytes, encoding: str) -> Reading | None:
    """`sample` decoded in `encoding` if it reads as text of that code page's script."""
    try:
        text = sample.decode(encoding)
    except UnicodeDecodeError:
        return None
    tier = _TIERS[encoding]
    tiers = [tier(char) for char in text if not char.isascii()]
    if not tiers or FOREIGN in tiers or not _WORD_SHAPES.get(encoding, _any_shape)(text):
        return None
    return Reading(encoding, text, tiers.count(COMMON) / len(tiers))


def _block(char: str, codec: str, low: bytes, high: bytes) -> bool:
    """True when `char` is a two-byte character of `codec` between `low` and `high`."""
    try:
        encoded = char.encode(codec)
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and low <= encoded <= high


def _cjk_other(char: str) -> int:
    """Any other Han character, CJK symbol or full-width form: rare, not foreign."""
    point = ord(char)
    return RARE if any(low <= point <= high for low, high in _CJK_OTHER) else FOREIGN


def _simplified(char: str) -> int:
    if _block(char, "gb2312", b"\xb0\xa1", b"\xd7\xf9") or char in _CJK_PUNCTUATION:
        return COMMON
    return _cjk_other(char)  # level 2, GBK and GB18030's other hanzi, symbols


def _traditional(char: str) -> int:
    if _block(char, "big5", b"\xa4\x40", b"\xc6\x7e") or char in _CJK_PUNCTUATION:
        return COMMON
    return _cjk_other(char)


def _japanese(char: str) -> int:
    if (
        "\u3041" <= char <= "\u3096"  # hiragana
        or "\u30a1" <= char <= "\u30fc"  # katakana, ・ and ー
        or _block(char, "cp932", b"\x88\x9f", b"\x98\x72")  # JIS level 1
        or char in _CJK_PUNCTUATION
    ):
        return COMMON
    return _cjk_other(char)  # JIS level 2, half-width katakana, symbols


def _korean(char: str) -> int:
    if char in _HANGUL:
        return COMMON
    if "\uac00" <= char <= "\ud7a3" or "\u3131" <= char <= "\u318e":
        return RARE  # other syllables, jamo
    return _cjk_other(char)  # hanja, symbols


def _western(char: str) -> int:
    if char in _LATIN_EXTRA or (char.isalpha() and "\u00c0" <= char <= "\u00ff"):
        return COMMON
    return RARE if char in _LATIN_MARKS else FOREIGN


def _cyrillic(char: str) -> int:
    if "\u0410" <= char <= "\u044f" or char in _RUSSIAN_EXTRA:
        return COMMON
    if "\u0400" <= char <= "\u045f" or char in "Ґґ" or char in _CYRILLIC_MARKS:
        return RARE
    return FOREIGN


def _latin_words(text: str) -> bool:
    """Western words carry an accent or two among ASCII letters, never only accents."""
    return all(len(word) < 2 or not _all_non_ascii(word) for word in _WORD.findall(text))


def _cyrillic_words(text: str) -> bool:
    """A Cyrillic word has no Latin letter in it, and no part of it starts with Ъ, Ы or Ь."""
    return all(
        word.isascii() or (_all_non_ascii(word) and not _BAD_CYRILLIC_START.search(word))
        for word in _WORD.findall(text)
    )


def _all_non_ascii(word: str) -> bool:
    return not any(char.isascii() for char in word)


def _any_shape(text: str) -> bool:
    return True


_TIERS: Final[dict[str, Callable[[str], int]]] = {
    "gb18030": _simplified,
    "big5": _traditional,
    "cp932": _japanese,
    "cp949": _korean,
    "cp1252": _western,
    "cp1251": _cyrillic,
}
_WORD_SHAPES: Final[dict[str, Callable[[str], bool]]] = {
    "cp1252": _latin_words,
    "cp1251": _cyrillic_words,
}
