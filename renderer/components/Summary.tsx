/** A rule's one-line summary, with "Mon–Fri" and "09:00–17:00" kept on one line. */
export function Summary({ text }: { text: string }) {
  return (
    <>
      {text.split(/(\S+–\S+)/).map((part, i) =>
        i % 2 ? (
          <span key={i} className="nowrap">
            {part}
          </span>
        ) : (
          part
        ),
      )}
    </>
  );
}
