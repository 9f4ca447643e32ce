"""Small manifests as Excel saves them in each code page of the main user bases.

Each file is 1-8 rows of a real manifest shape (wide `image_id,name,description` or
`image_id,name`, long `image_id,path,value` or `image_id,op,path,value`), ids as UUIDs, CRLF
line ends, each value mixing ASCII with one or two real words of the script: image names,
descriptions, teams, cities, people's names. Deterministic by seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

# fmt: off
# Code page -> words written in it. Every word has a non-ASCII character, so every file
# needs a code page (an all-ASCII file is UTF-8 and proves nothing here).
VOCABULARY: Final[dict[str, tuple[str, ...]]] = {
    "gbk": (
        # images and descriptions
        "镜像", "生产环境", "测试", "开发", "预发布", "数据库", "主库", "备库", "缓存",
        "网关", "负载均衡", "容器", "中间件", "日志", "监控", "大数据", "安全加固",
        "基础镜像", "系统盘", "模板", "备份", "迁移", "公共", "私有", "正式版", "补丁",
        "升级", "内核", "订单系统", "支付", "会员", "电商", "财务", "接口", "前端", "后端",
        "请勿删除", "已废弃", "每日备份", "仅供内部使用", "镜像测试",
        # teams
        "运维组", "研发部", "数据平台", "基础架构", "安全团队", "市场部", "客服中心",
        # cities
        "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "贵阳",
        "乌兰察布", "香港", "苏州", "天津",
        # people
        "张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴霞",
    ),
    "big5": (
        "鏡像", "正式環境", "測試", "開發", "資料庫", "備份", "伺服器", "網路", "雲端",
        "應用程式", "系統", "監控", "快取", "閘道", "負載平衡", "容器", "日誌", "安全性",
        "範本", "遷移", "更新", "訂單", "會員", "請勿刪除", "內部使用", "主機",
        "維運組", "研發部", "資訊部", "財務處", "客服中心",
        "臺北", "新竹", "臺中", "高雄", "桃園", "臺南", "香港", "澳門",
        "陳志明", "林美玲", "黃冠宇", "張淑芬", "李建宏", "王雅婷", "吳家豪", "劉怡君",
    ),
    "cp932": (
        "本番環境", "検証環境", "開発", "テスト", "イメージ", "サーバー", "データベース",
        "バックアップ", "監視", "ログ", "設定", "運用", "社内", "基盤", "共通", "移行",
        "更新", "削除禁止", "受注システム", "決済", "会員", "キャッシュ", "ゲートウェイ",
        "インフラ部", "開発部", "情報システム部", "営業部", "運用チーム",
        "東京", "大阪", "名古屋", "福岡", "札幌", "横浜", "京都", "神戸", "仙台",
        "田中", "佐藤", "鈴木", "高橋", "渡辺", "山本", "伊藤", "中村", "小林",
    ),
    "cp949": (
        "운영", "개발", "테스트", "이미지", "서버", "데이터베이스", "백업", "모니터링",
        "로그", "보안", "기본", "공용", "배포", "검증", "캐시", "게이트웨이", "주문",
        "결제", "회원", "삭제 금지", "내부용", "운영 환경",
        "인프라팀", "개발팀", "운영팀", "데이터팀", "보안팀", "고객지원",
        "서울", "부산", "인천", "대구", "대전", "광주", "울산", "수원", "제주",
        "김민준", "이서연", "박지훈", "최수빈", "정우진", "강하은", "조현우", "윤지민",
    ),
    "cp1252": (
        "München", "Café", "Señor", "Zürich", "Köln", "Düsseldorf", "Genève", "Málaga",
        "São Paulo", "Bogotá", "Straße", "Prüfung", "Système", "Données", "Réseau",
        "Sécurité", "Übersicht", "Größe", "Entwicklungsumgebung für", "Sauvegarde légère",
        "Françoise", "José", "Müller", "Jürgen", "Renée", "Éric", "Søren", "Björn",
        "Crème", "Niño", "Año", "Ação", "Façade", "naïve", "Œuvre", "Montréal",
        "Équipe réseau", "Produktionsumgebung Köln", "Dépôt", "Mañana",
    ),
    "cp1251": (
        "Москва", "Санкт-Петербург", "Новосибирск", "Казань", "Екатеринбург", "Минск",
        "сервер", "образ", "база данных", "продакшн", "тестовый", "разработка",
        "резервная копия", "мониторинг", "журнал", "шлюз", "кластер", "основной",
        "безопасность", "не удалять", "обновление", "заказы", "платежи",
        "отдел эксплуатации", "группа разработки", "служба поддержки",
        "Иван", "Мария", "Алексей", "Ольга", "Дмитрий", "Наталья", "Сергей", "Петров",
    ),
}
# How the code page is written to the file: GBK files are also saved as GB18030.
WRITTEN_AS: Final[dict[str, tuple[str, ...]]] = {"gbk": ("gbk", "gb18030")}
# fmt: on
LABELS: Final[dict[str, str]] = {
    "gbk": "simplified Chinese (GBK/GB18030)",
    "big5": "traditional Chinese (Big5)",
    "cp932": "Japanese (cp932)",
    "cp949": "Korean (cp949)",
    "cp1252": "Western (cp1252)",
    "cp1251": "Cyrillic (cp1251)",
}
# fmt: off
_NAMES: Final = (
    "{w}", "{w}-{n}", "{w} Web {v}", "web-{w}-v{n}", "{w}_{v}", "{w} {v} CentOS 7",
    "Ubuntu 22.04 {w}", "{w}{v}-{n}", "EulerOS {w}", "{w} (v{n})",
)
_DESCRIPTIONS: Final = (
    "", "", "for {w}", "{w} {v}", "owner: {w}", "{w} / {v} / 2026", "build {n} {w}",
)
# fmt: on
_PATHS: Final = ("name", "__description", "/name", "description")


@dataclass(frozen=True, slots=True)
class Sample:
    """One manifest file: what was meant (text), how it was saved (encoding), its bytes."""

    language: str  # a key of VOCABULARY
    encoding: str
    text: str
    data: bytes


def corpus(*, seed: int, per_language: int) -> Iterator[Sample]:
    """`per_language` files for each code page, the same files for the same seed."""
    rng = random.Random(seed)
    for language, words in VOCABULARY.items():
        encodings = WRITTEN_AS.get(language, (language,))
        for index in range(per_language):
            text = _manifest(rng, words)
            encoding = encodings[index % len(encodings)]
            yield Sample(language, encoding, text, text.encode(encoding))


def _manifest(rng: random.Random, words: tuple[str, ...]) -> str:
    rows = rng.randint(1, 8)
    shape = rng.choice(("wide", "wide-name", "long", "long-op"))
    lines = [
        {
            "wide": "image_id,name,description",
            "wide-name": "image_id,name",
            "long": "image_id,path,value",
            "long-op": "image_id,op,path,value",
        }[shape]
    ]
    for _ in range(rows):
        image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = _value(rng, words, _NAMES)
        if shape == "wide":
            lines.append(f"{image_id},{name},{_value(rng, words, _DESCRIPTIONS)}")
        elif shape == "wide-name":
            lines.append(f"{image_id},{name}")
        else:
            op = "replace," if shape == "long-op" else ""
            lines.append(f"{image_id},{op}{rng.choice(_PATHS)},{name}")
    return "\r\n".join(lines) + "\r\n"


def _value(rng: random.Random, words: tuple[str, ...], templates: tuple[str, ...]) -> str:
    """A template filled with one or two words (`{w}`, `{v}`) and a number (`{n}`)."""
    return rng.choice(templates).format(
        w=rng.choice(words), v=rng.choice(words), n=rng.randint(1, 20)
    )
