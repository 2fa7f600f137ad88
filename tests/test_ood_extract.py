"""data/ood_extract.py: the software-message filters, on hand-made catalogue entries."""
from __future__ import annotations

from data.ood_extract import keep


def test_filters_drop_format_strings_markup_accelerators_and_short_entries():
    good = ("The signature was not accepted by the server", "La firma no fue aceptada por el servidor")
    assert keep(*good)
    for en, es in [
        ("Cannot open file %s for reading now", "No se puede abrir el fichero %s para leer"),
        ("Removed %1$d packages from the system", "Se eliminaron %1$d paquetes del sistema"),
        ("Hello {name}, welcome to the program", "Hola {name}, bienvenido al programa"),
        ("<b>Bold</b> text is shown here now", "<b>Negrita</b> se muestra aquí ahora"),
        ("_Open the selected file now please", "_Abrir el fichero seleccionado ahora"),
        ("Too short", "Demasiado corto"),
        ("Visit https://example.org for more details", "Visite https://example.org para más detalles"),
        ("Use --force to override this check", "Use --force para saltar esta comprobación"),
        ("Two lines\nof text in this message", "Dos líneas\nde texto en este mensaje"),
        ("Untranslated message stays in English here", "Untranslated message stays in English here"),
    ]:
        assert not keep(en, es), en


def test_duplicates_are_kept_once(tmp_path):
    import gettext  # noqa: F401  (the reader under test uses it)
    from data.ood_extract import extract

    def mo(path, pairs):
        """A minimal GNU .mo file (little endian, no hash table) holding ``pairs``."""
        import struct
        keys = sorted(pairs)
        ids = b"".join(k.encode() + b"\0" for k in keys)
        strs = b"".join(pairs[k].encode() + b"\0" for k in keys)
        n = len(keys)
        start = 7 * 4 + 16 * n
        koffs, voffs, o = [], [], 0
        for k in keys:
            koffs.append((len(k.encode()), start + o))
            o += len(k.encode()) + 1
        o2 = 0
        for k in keys:
            voffs.append((len(pairs[k].encode()), start + len(ids) + o2))
            o2 += len(pairs[k].encode()) + 1
        head = struct.pack("<7I", 0x950412de, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
        body = b"".join(struct.pack("<2I", *x) for x in koffs) + b"".join(struct.pack("<2I", *x) for x in voffs)
        path.write_bytes(head + body + ids + strs)

    msg = {"The signature was not accepted by the server": "La firma no fue aceptada por el servidor",
           "Cannot open file %s for reading now": "No se puede abrir el fichero %s para leer"}
    mo(tmp_path / "a.mo", msg)
    mo(tmp_path / "b.mo", {**msg, "Please insert the correct media now": "Inserte el medio correcto ahora"})
    pairs, sources = extract([tmp_path / "a.mo", tmp_path / "b.mo"], max_pairs=100)
    assert pairs == [("La firma no fue aceptada por el servidor", "The signature was not accepted by the server"),
                     ("Inserte el medio correcto ahora", "Please insert the correct media now")]
    assert [s["kept"] for s in sources] == [1, 1]
