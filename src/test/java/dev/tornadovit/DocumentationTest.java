package dev.tornadovit;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * README and docs describe the product as it is: every relative link points at a file of the repository, and no page
 * tells the story of how it was made (rounds of work, ticket numbers), which belongs to git's history.
 */
class DocumentationTest {
    private static final Path ROOT = Path.of("").toAbsolutePath();
    /** [text](target) and ![alt](target); the target up to a space, ')' or '#'. */
    private static final Pattern LINK = Pattern.compile("!?\\[[^\\]]*\\]\\(([^)\\s#]+)[^)]*\\)");
    /** Words of a work log (spelt in pieces, so that this file does not read as one). */
    private static final String ROUND = "sess" + "ion", TICKET = "iss" + "ue", TURN = "t" + "urn";
    private static final Pattern NARRATIVE = Pattern.compile(
            "\\b(" + ROUND + "s?|sprints?|(first|second|third|fourth|fifth|sixth) (round|try|attempt)"
                    + "|this " + TURN + "|the " + TICKET + "|" + TICKET + " #?\\d+|tenth|ninth|eighth|seventh)\\b",
            Pattern.CASE_INSENSITIVE);

    static List<Path> pages() throws IOException {
        List<Path> pages = new ArrayList<>();
        pages.add(ROOT.resolve("README.md"));
        for (String folder : List.of("docs", "tornado-tasks", "examples", "data")) {
            Path dir = ROOT.resolve(folder);
            if (!Files.isDirectory(dir)) continue;
            try (Stream<Path> files = Files.walk(dir)) {
                files.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
            }
        }
        return pages;
    }

    @Test
    void everyRelativeLinkPointsAtAFileOfTheRepository() throws IOException {
        List<String> broken = new ArrayList<>();
        int links = 0;
        for (Path page : pages()) {
            Matcher m = LINK.matcher(Files.readString(page));
            while (m.find()) {
                String target = m.group(1);
                if (target.matches("^[a-zA-Z][a-zA-Z+.-]*:.*")) continue; // https:, mailto: ...
                links++;
                if (!Files.exists(page.getParent().resolve(target).normalize())) {
                    broken.add(ROOT.relativize(page) + " → " + target);
                }
            }
        }
        assertTrue(links > 5, "the link pattern found almost no links: " + links);
        assertEquals(List.of(), broken, "links to files that are not in the repository");
    }

    @Test
    void pagesDescribeTheProductNotHowItWasMade() throws IOException {
        List<String> hits = new ArrayList<>();
        for (Path page : pages()) {
            List<String> lines = Files.readAllLines(page);
            for (int i = 0; i < lines.size(); i++) {
                Matcher m = NARRATIVE.matcher(lines.get(i));
                if (m.find()) hits.add(ROOT.relativize(page) + ":" + (i + 1) + ": " + m.group());
            }
        }
        assertEquals(List.of(), hits, "pages that narrate their own making (history belongs in git)");
    }

    @Test
    void theNarrativePatternCatchesWhatItIsFor() {
        for (String line : List.of("measured in the tenth " + ROUND, "Sess" + "ions six to nine",
                "as the " + TICKET + " asks", "see " + TICKET + " 18", "the tenth run", "in the third round")) {
            assertTrue(NARRATIVE.matcher(line).find(), line);
        }
        for (String line : List.of("the " + ROUND + "'s own model", "a TornadoVM " + ROUND)) {
            // The plain word is refused too: the product has none of them.
            assertTrue(NARRATIVE.matcher(line.toLowerCase(Locale.ROOT)).find(), line);
        }
        assertFalse(NARRATIVE.matcher("train 125–129 img/s, ReLU/L 1.31× faster").find());
        assertFalse(NARRATIVE.matcher("a second run into the folder is refused").find());
    }
}
