"""The demo's knowledge base: frequent questions of an online shop, in English and French.

Synthetic text written for the demo (no real shop's policy). Each entry is (topic, language,
title, phrasings, answer); the topic is the article's category.
"""

from __future__ import annotations

ARTICLES: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    (
        "delivery_time",
        "en",
        "How long does delivery take?",
        ("When will my order arrive?", "delivery delay", "shipping time"),
        "Orders ship within 1 business day; standard delivery takes 2 to 4 business days in "
        "mainland France and 3 to 7 elsewhere in Europe.",
    ),
    (
        "delivery_time",
        "fr",
        "Quel est le délai de livraison ?",
        (
            "Quand vais-je recevoir ma commande ?",
            "délai d'expédition",
            "combien de temps pour livrer",
        ),
        "Les commandes partent sous 1 jour ouvré ; la livraison standard prend 2 à 4 jours ouvrés "
        "en France métropolitaine et 3 à 7 ailleurs en Europe.",
    ),
    (
        "order_tracking",
        "en",
        "How do I track my order?",
        ("Where is my parcel?", "tracking number", "follow my package"),
        "Your tracking link is in the shipping confirmation e-mail and in My account > Orders.",
    ),
    (
        "order_tracking",
        "fr",
        "Comment suivre ma commande ?",
        ("Où est mon colis ?", "numéro de suivi", "suivi du colis"),
        "Le lien de suivi est dans l'e-mail de confirmation d'expédition et dans Mon compte > "
        "Commandes.",
    ),
    (
        "return_policy",
        "en",
        "How do I return an item?",
        ("return policy", "send back a product", "can I return my purchase"),
        "You have 30 days from delivery to return an unworn item: start a return in My account > "
        "Orders and print the prepaid label.",
    ),
    (
        "return_policy",
        "fr",
        "Comment retourner un article ?",
        ("politique de retour", "renvoyer un produit", "puis-je retourner mon achat"),
        "Vous avez 30 jours après la livraison pour retourner un article non porté : lancez le "
        "retour dans Mon compte > Commandes et imprimez l'étiquette prépayée.",
    ),
    (
        "refund_delay",
        "en",
        "When will I get my refund?",
        ("refund not received", "how long for a refund", "money back"),
        "Refunds are issued within 5 business days of receiving your return, to the original "
        "payment method; your bank may take 3 more days.",
    ),
    (
        "refund_delay",
        "fr",
        "Quand serai-je remboursé ?",
        ("remboursement pas reçu", "délai de remboursement", "récupérer mon argent"),
        "Le remboursement est fait sous 5 jours ouvrés après réception du retour, sur le moyen de "
        "paiement d'origine ; votre banque peut prendre 3 jours de plus.",
    ),
    (
        "change_address",
        "en",
        "Can I change my delivery address?",
        ("wrong shipping address", "update address on my order", "modify delivery address"),
        "You can change the address until the order ships, from My account > Orders > Edit.",
    ),
    (
        "change_address",
        "fr",
        "Puis-je changer mon adresse de livraison ?",
        ("mauvaise adresse de livraison", "modifier l'adresse de ma commande", "changer d'adresse"),
        "Vous pouvez changer l'adresse tant que la commande n'est pas expédiée, dans Mon compte > "
        "Commandes > Modifier.",
    ),
    (
        "cancel_order",
        "en",
        "How do I cancel my order?",
        ("cancel a purchase", "I want to cancel", "stop my order"),
        "Orders can be cancelled within 2 hours of purchase from My account > Orders > Cancel.",
    ),
    (
        "cancel_order",
        "fr",
        "Comment annuler ma commande ?",
        ("annuler un achat", "je veux annuler", "arrêter ma commande"),
        "Une commande peut être annulée dans les 2 heures suivant l'achat, dans Mon compte > "
        "Commandes > Annuler.",
    ),
    (
        "payment_methods",
        "en",
        "Which payment methods do you accept?",
        ("can I pay with PayPal", "credit card accepted", "ways to pay"),
        "We accept Visa, Mastercard, American Express, PayPal and gift cards.",
    ),
    (
        "payment_methods",
        "fr",
        "Quels moyens de paiement acceptez-vous ?",
        ("puis-je payer avec PayPal", "carte bancaire acceptée", "comment payer"),
        "Nous acceptons Visa, Mastercard, American Express, PayPal et les cartes cadeaux.",
    ),
    (
        "payment_declined",
        "en",
        "Why was my payment declined?",
        ("card refused", "payment failed", "transaction rejected"),
        "Check the card's expiry date and 3-D Secure code; if it still fails, your bank may have "
        "blocked an online payment: call them or use another method.",
    ),
    (
        "payment_declined",
        "fr",
        "Pourquoi mon paiement est-il refusé ?",
        ("carte refusée", "le paiement a échoué", "transaction rejetée"),
        "Vérifiez la date d'expiration et le code 3-D Secure ; si cela échoue encore, votre banque "
        "a peut-être bloqué le paiement en ligne : appelez-la ou changez de moyen de paiement.",
    ),
    (
        "invoice",
        "en",
        "How do I get an invoice?",
        ("download my invoice", "receipt for my order", "bill for my purchase"),
        "Invoices are available as PDF in My account > Orders, next to each order.",
    ),
    (
        "invoice",
        "fr",
        "Comment obtenir une facture ?",
        ("télécharger ma facture", "reçu de ma commande", "facture de mon achat"),
        "Les factures sont disponibles en PDF dans Mon compte > Commandes, à côté de chaque "
        "commande.",
    ),
    (
        "password_reset",
        "en",
        "I forgot my password",
        ("reset my password", "cannot log in", "sign in problem"),
        "Click 'Forgot password' on the sign-in page; we e-mail you a link valid for one hour.",
    ),
    (
        "password_reset",
        "fr",
        "J'ai oublié mon mot de passe",
        (
            "réinitialiser mon mot de passe",
            "je n'arrive pas à me connecter",
            "problème de connexion",
        ),
        "Cliquez sur « Mot de passe oublié » sur la page de connexion ; nous vous envoyons un lien "
        "valable une heure.",
    ),
    (
        "personal_data",
        "en",
        "How do I get or delete my personal data?",
        ("delete my account", "erase my data", "GDPR request", "privacy"),
        "Open the preference centre from the link at the bottom of any of our e-mails: you can "
        "download your data or ask for its erasure there.",
    ),
    (
        "personal_data",
        "fr",
        "Comment obtenir ou supprimer mes données personnelles ?",
        ("supprimer mon compte", "effacer mes données", "demande RGPD", "vie privée"),
        "Ouvrez le centre de préférences depuis le lien en bas de nos e-mails : vous pouvez y "
        "télécharger vos données ou demander leur effacement.",
    ),
    (
        "unsubscribe",
        "en",
        "How do I unsubscribe from the newsletter?",
        ("stop marketing emails", "too many emails", "opt out of newsletter"),
        "Use the unsubscribe link at the bottom of any newsletter: it works in one click.",
    ),
    (
        "unsubscribe",
        "fr",
        "Comment me désabonner de la newsletter ?",
        ("arrêter les e-mails promotionnels", "trop d'e-mails", "désinscription newsletter"),
        "Utilisez le lien de désabonnement en bas de chaque newsletter : un clic suffit.",
    ),
    (
        "size_guide",
        "en",
        "How do I choose my size?",
        ("size guide", "which size should I take", "sizing chart"),
        "Each product page has a size guide with measurements; between two sizes, take the larger.",
    ),
    (
        "size_guide",
        "fr",
        "Comment choisir ma taille ?",
        ("guide des tailles", "quelle taille prendre", "tableau des tailles"),
        "Chaque fiche produit a un guide des tailles avec les mesures ; entre deux tailles, prenez "
        "la plus grande.",
    ),
    (
        "damaged_item",
        "en",
        "My item arrived damaged",
        ("broken product", "defective item", "received a faulty article"),
        "Sorry about that: send us a photo from My account > Orders > Report a problem and we "
        "ship a replacement at no cost.",
    ),
    (
        "damaged_item",
        "fr",
        "Mon article est arrivé abîmé",
        ("produit cassé", "article défectueux", "j'ai reçu un article endommagé"),
        "Désolés : envoyez-nous une photo depuis Mon compte > Commandes > Signaler un problème et "
        "nous expédions un remplacement sans frais.",
    ),
    (
        "promo_code",
        "en",
        "My promo code does not work",
        ("discount code invalid", "coupon not applied", "voucher error"),
        "Codes are case-sensitive, valid once per customer and not on sale items; check the expiry "
        "date in the e-mail that gave you the code.",
    ),
    (
        "promo_code",
        "fr",
        "Mon code promo ne fonctionne pas",
        ("code de réduction invalide", "coupon non appliqué", "erreur bon de réduction"),
        "Les codes respectent les majuscules, valent une fois par client et pas sur les soldes ; "
        "vérifiez la date d'expiration dans l'e-mail qui vous a donné le code.",
    ),
    (
        "shipping_cost",
        "en",
        "How much does shipping cost?",
        ("delivery fees", "free shipping", "shipping price"),
        "Shipping is free from 50 euros; below that, 4.90 euros in France and 9.90 in Europe.",
    ),
    (
        "shipping_cost",
        "fr",
        "Combien coûte la livraison ?",
        ("frais de port", "livraison gratuite", "prix de l'expédition"),
        "La livraison est offerte dès 50 euros ; en dessous, 4,90 euros en France et 9,90 en "
        "Europe.",
    ),
    (
        "gift_card",
        "en",
        "How do gift cards work?",
        ("buy a gift card", "gift card balance", "use a gift voucher"),
        "Gift cards are valid for one year and can be used in several orders; enter the code at "
        "checkout.",
    ),
    (
        "gift_card",
        "fr",
        "Comment fonctionnent les cartes cadeaux ?",
        ("acheter une carte cadeau", "solde carte cadeau", "utiliser un bon cadeau"),
        "Les cartes cadeaux sont valables un an et utilisables en plusieurs commandes ; "
        "saisissez le "
        "code au paiement.",
    ),
)
