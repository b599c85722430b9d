"""A synthetic multilingual corpus for the spam classifier: real-looking reports and spam.

Invented sentences only (no real person, no real site: links are ``.example``, numbers are
Ofcom's drama range). Each text joins two to four sentences of one language, picked by a seeded
random generator, so a seed gives the same corpus. Real-looking reports sometimes carry what
spam also carries (a link to where he posted her photos, a phone number, money), so that the
false-positive rate measured on them is not flattered.

Used by the classifier's tests and by ``benchmarks/classifier_bench.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["LANGUAGES", "Sample", "corpus"]

_REAL: dict[str, list[str]] = {
    "en": [
        "My partner shouts at me and takes all my money.",
        "He said he would call the Home Office if I leave him.",
        "I am afraid to go home tonight, he was drunk again.",
        "My employer keeps my passport and I cannot leave the house.",
        "He posted my photos on www.pics.example without asking me.",
        "He checks my phone every night and reads my messages.",
        "Last week he pushed me against the wall in front of the children.",
        "I can call safely on 07700 900123 in the morning only.",
        "My ex keeps sending me threatening messages about money he says I owe.",
    ],
    "es": [
        "Mi pareja me grita y me quita el dinero.",
        "Dijo que llamaría a inmigración si me voy de casa.",
        "Tengo miedo de volver a casa esta noche.",
        "Me revisa el teléfono todas las noches.",
        "Mi jefe tiene mi pasaporte y no me paga.",
        "Subió mis fotos a una página sin mi permiso.",
        "Me empujó delante de mis hijos la semana pasada.",
    ],
    "pt": [
        "O meu companheiro grita comigo e fica com o meu dinheiro.",
        "Ele disse que chamaria a imigração se eu sair.",
        "Tenho medo de voltar para casa hoje à noite.",
        "Ele lê as minhas mensagens todas as noites.",
        "O patrão guarda o meu passaporte e não me deixa sair.",
        "Ele ameaçou levar as crianças para fora do país.",
    ],
    "pl": [
        "Mój partner krzyczy na mnie i zabiera mi pieniądze.",
        "Powiedział, że zadzwoni do urzędu imigracyjnego, jeśli odejdę.",
        "Boję się dziś wrócić do domu.",
        "Codziennie sprawdza mój telefon i czyta wiadomości.",
        "Pracodawca zabrał mi paszport i nie płaci mi.",
        "W zeszłym tygodniu popchnął mnie przy dzieciach.",
    ],
    "ar": [
        "زوجي يصرخ علي ويأخذ نقودي.",
        "قال إنه سيتصل بالهجرة إذا غادرت البيت.",
        "أخاف أن أعود إلى البيت الليلة.",
        "يفتش هاتفي كل ليلة ويقرأ رسائلي.",
        "صاحب العمل يحتفظ بجواز سفري ولا يدفع لي.",
        "دفعني أمام الأطفال الأسبوع الماضي.",
    ],
    "ro": [
        "Partenerul meu țipă la mine și îmi ia banii.",
        "A spus că sună la imigrări dacă plec.",
        "Mi-e frică să mă întorc acasă în seara asta.",
        "Îmi verifică telefonul în fiecare seară.",
        "Patronul îmi ține pașaportul și nu mă plătește.",
        "M-a împins în fața copiilor săptămâna trecută.",
    ],
    "tr": [
        "Eşim bana bağırıyor ve paramı alıyor.",
        "Evden ayrılırsam göçmenlik bürosunu arayacağını söyledi.",
        "Bu gece eve dönmekten korkuyorum.",
        "Her gece telefonumu kontrol ediyor ve mesajlarımı okuyor.",
        "İşverenim pasaportumu tutuyor ve maaşımı ödemiyor.",
        "Geçen hafta çocukların önünde beni itti.",
    ],
    "fa": [
        "شوهرم سرم داد می‌زند و پولم را می‌گیرد.",
        "گفت اگر بروم به اداره مهاجرت زنگ می‌زند.",
        "می‌ترسم امشب به خانه برگردم.",
        "هر شب گوشی‌ام را می‌گردد و پیام‌هایم را می‌خواند.",
        "کارفرما گذرنامه‌ام را نگه داشته و حقوقم را نمی‌دهد.",
    ],
}

_SPAM: dict[str, list[str]] = {
    "en": [
        "Buy cheap watches online, best price guaranteed!",
        "Earn 5000 dollars a week from home, click http://money.example now.",
        "Best casino bonus, free spins today only at www.casino.example",
        "Cheap pills without prescription, fast delivery worldwide.",
        "Invest in bitcoin now and double your crypto in 24 hours.",
        "SEO services: rank first on Google, contact seo@agency.example",
        "Hot singles in your area want to meet you tonight.",
    ],
    "es": [
        "Compra relojes baratos en línea, el mejor precio garantizado.",
        "Gana 5000 euros a la semana desde casa, haz clic en http://dinero.example",
        "Bono de casino y giros gratis solo hoy en www.casino.example",
        "Invierte en bitcoin y duplica tus criptomonedas en 24 horas.",
        "Pastillas baratas sin receta, envío rápido.",
    ],
    "pt": [
        "Compre relógios baratos online, melhor preço garantido.",
        "Ganhe 5000 euros por semana em casa, clique em http://dinheiro.example",
        "Bónus de casino e rodadas grátis só hoje em www.casino.example",
        "Invista em bitcoin e duplique as suas criptomoedas em 24 horas.",
    ],
    "pl": [
        "Kup tanie zegarki online, najlepsza cena gwarantowana.",
        "Zarabiaj 5000 złotych tygodniowo w domu, kliknij http://kasa.example",
        "Bonus kasynowy i darmowe spiny tylko dziś na www.kasyno.example",
        "Inwestuj w bitcoin i podwój swoje kryptowaluty w 24 godziny.",
    ],
    "ar": [
        "اشتر ساعات رخيصة عبر الإنترنت بأفضل سعر.",
        "اربح ٥٠٠٠ دولار أسبوعيا من البيت، اضغط http://mal.example",
        "مكافأة كازينو ولفات مجانية اليوم فقط www.casino.example",
        "استثمر في البيتكوين وضاعف عملاتك الرقمية في ٢٤ ساعة.",
    ],
    "ro": [
        "Cumpără ceasuri ieftine online, cel mai bun preț garantat.",
        "Câștigă 5000 de lei pe săptămână de acasă, click http://bani.example",
        "Bonus de cazino și rotiri gratuite doar azi pe www.cazino.example",
        "Investește în bitcoin și dublează-ți criptomonedele în 24 de ore.",
    ],
    "tr": [
        "Ucuz saatleri internetten satın alın, en iyi fiyat garantili.",
        "Evden haftada 5000 lira kazanın, tıklayın http://para.example",
        "Casino bonusu ve bedava çevirme sadece bugün www.casino.example",
        "Bitcoine yatırım yapın ve kripto paranızı 24 saatte ikiye katlayın.",
    ],
    "fa": [
        "ساعت ارزان آنلاین بخرید، بهترین قیمت تضمینی.",
        "هفته‌ای ۵۰۰۰ دلار در خانه درآمد داشته باشید http://pool.example",
        "جایزه کازینو و چرخش رایگان فقط امروز www.casino.example",
        "در بیت‌کوین سرمایه‌گذاری کنید و ارز دیجیتال خود را دو برابر کنید.",
    ],
}

LANGUAGES = tuple(sorted(_REAL))


@dataclass(frozen=True)
class Sample:
    text: str
    language: str
    spam: bool


def _text(rng: random.Random, sentences: list[str]) -> str:
    count = rng.randint(2, min(4, len(sentences)))
    return " ".join(rng.sample(sentences, count))


def corpus(seed: int, per_language: int, *, spam_share: float = 0.5,
           languages: tuple[str, ...] = LANGUAGES) -> list[Sample]:
    """``per_language`` texts in each language, about ``spam_share`` of them spam, shuffled."""
    rng = random.Random(seed)
    made = []
    for language in languages:
        for _ in range(per_language):
            spam = rng.random() < spam_share
            bank = _SPAM if spam else _REAL
            made.append(Sample(_text(rng, bank[language]), language, spam))
    rng.shuffle(made)
    return made
