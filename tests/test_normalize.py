from rag.normalize import line_points, normalize, paragraphs, point_lookup


def _line_of(src: str, text: str, n, needle: str) -> int:
    i = n.text.index(needle)
    return point_lookup(line_points(src, n.origin, []), i)


def test_joins_hyphenation_and_hard_wraps():
    src = "the Mexican govern-\nment’s ability to adequately\naddress the dete-\nriorating situation."
    n = normalize(src)
    assert n.text == "the Mexican government’s ability to adequately address the deteriorating situation."


def test_keeps_hyphen_before_capitalized_word():
    assert normalize("the U.S.-\nMexico and Canada-\nMexico border").text == "the U.S.-Mexico and Canada-Mexico border"


def test_paragraphs_survive_and_markup_goes():
    n = normalize("# **Keywords:**\n\nRegionalism, *Security* Governance\n\n\n\nNext **bold** para.")
    assert n.text == "Keywords:\n\nRegionalism, Security Governance\n\nNext bold para."
    assert [n.text[s:e] for s, e in n.headings] == ["Keywords:"]
    assert len(paragraphs(n.text)) == 3


def test_heading_without_blank_line_is_its_own_paragraph():
    n = normalize("## Introduction\nThe text starts here.")
    assert n.text == "Introduction\n\nThe text starts here."
    assert [n.text[s:e] for s, e in n.headings] == ["Introduction"]


def test_strips_glued_footnote_digits_but_not_numbers():
    n = normalize("drug trafficking organizations (DTOs)1 and\na “failed state.”2\n\nexcess articles10 authority in 2009, $15 million, 3.5 percent")
    assert "(DTOs) and" in n.text
    assert "state.”\n" in n.text + "\n"
    assert "articles authority in 2009, $15 million, 3.5 percent" in n.text


def test_digits_of_a_name_used_more_than_once_are_not_taken_for_footnote_marks():
    """ "libtasn1" and "ASN.1" lost their digits to the footnote rule in a real PDF manual; a note number occurs once."""
    n = normalize("Read ASN.1 definitions for libtasn1 functions. The ASN.1 parser of libtasn1 is small.\nThe reform14 In short.")
    assert "ASN.1 definitions for libtasn1 functions" in n.text and "ASN.1 parser of libtasn1" in n.text
    assert "The reform In short." in n.text
    for word in ("libtasn1", "ASN.1"):  # the digits map back to their own characters
        i = n.text.index(word) + len(word) - 1
        assert n.text[i] == "1" and n.origin[i] == n.origin[i - 1] + 1


def test_superscripts_removed():
    assert normalize("international affairs.¹ This changed").text == "international affairs. This changed"


def test_origin_maps_every_character_back_to_its_line():
    src = "Title line\n\nfirst para-\ngraph wraps\nhere.\n\n\nSecond one."
    n = normalize(src)
    assert len(n.origin) == len(n.text)
    assert _line_of(src, n.text, n, "Title") == 1
    assert _line_of(src, n.text, n, "paragraph") == 3
    assert _line_of(src, n.text, n, "wraps") == 4
    assert _line_of(src, n.text, n, "here") == 5
    assert _line_of(src, n.text, n, "Second") == 8
    for i, ch in enumerate(n.text):
        if ch.isalnum():
            assert src[n.origin[i]] == ch


def test_control_and_bidi_characters_removed():
    assert normalize("a\x00b\u202ec\ufeff d").text == "abc d"
