import { describe, expect, it } from 'vitest';
import { detectContacts } from './contact-detect.ts';

/** [message as a visitor writes it, phones expected (E.164), emails expected] */
type Case = [string, string[], string[]];

const found: Case[] = [
  ['+7 (999) 123-45-67', ['+79991234567'], []],
  ['8 999 1234567', ['+79991234567'], []],
  ['мой email ivan@example.ru', [], ['ivan@example.ru']],
  ['Здравствуйте, мой телефон 89991234567, перезвоните', ['+79991234567'], []],
  ['звоните +7-916-765-43-21 после обеда', ['+79167654321'], []],
  ['мой номер 999 123 45 67', ['+79991234567'], []],
  ['79991234567', ['+79991234567'], []],
  ['9161234567', ['+79161234567'], []],
  ['8(916)765-43-21', ['+79167654321'], []],
  ['+7 (999) 12-34-567', ['+79991234567'], []],
  ['тел.:+79161234567.', ['+79161234567'], []],
  ['рабочий 8 (495) 123-45-67 доб. 12', ['+74951234567'], []],
  ['городской (495) 123-45-67', ['+74951234567'], []],
  ['мой телефон 4951234567', ['+74951234567'], []],
  ['+375 29 123-45-67 это Минск', ['+375291234567'], []],
  ['+44 20 7946 0958', ['+442079460958'], []],
  ['+7 999 123 45 67 или жены +7 916 765 43 21', ['+79991234567', '+79167654321'], []],
  ['Перезвоните 8 (999) 123 45 67, email: Ivan.Petrov@Mail.ru', ['+79991234567'], ['ivan.petrov@mail.ru']],
  ['пишите на ivan@example.ru.', [], ['ivan@example.ru']],
  ['почта: anna_smirnova-84@yandex.ru, жду', [], ['anna_smirnova-84@yandex.ru']],
  ['e-mail olga+shop@gmail.com', [], ['olga+shop@gmail.com']],
  ['адрес ivan [at] example.ru', [], ['ivan@example.ru']],
  ['ivan собака example.ru', [], ['ivan@example.ru']],
  ['кириллица: иван@пример.рф', [], ['иван@пример.рф']],
  ['напишите (ivan@example.com)', [], ['ivan@example.com']],
  ['Мой номер 8-999-123-45-67 а почта petrov@company.org', ['+79991234567'], ['petrov@company.org']],
  ['12:00 13.03.2024 звоните 89161234567', ['+79161234567'], []],
  ['тот же номер 89991234567 и ещё раз +7 999 123-45-67', ['+79991234567'], []],
  ['mailto:sales@shop.example.com', [], ['sales@shop.example.com']],
  ['whatsapp 9161234567', ['+79161234567'], []],
  ['Артём, 89991234567', ['+79991234567'], []],
  ['номер длинный 89991234567', ['+79991234567'], []],
  ['Счастливо! 8 999 123-45-67', ['+79991234567'], []],
];

const notFound: Case[] = [
  ['номер заказа 123456789', [], []],
  ['заказ №9991234567', [], []],
  ['order #79991234567', [], []],
  ['номер заказа: 8999 123 4567', [], []],
  ['Счёт 89991234567 оплачен', [], []],
  ['трек-номер 80080012345678', [], []],
  ['артикул 8999123456', [], []],
  ['ИНН 7707083893', [], []],
  ['ИНН 503412345678', [], []],
  ['СНИЛС 123-456-789 01', [], []],
  ['паспорт 4512 345678', [], []],
  ['дата 12.03.2024', [], []],
  ['12.03.2024 14:30', [], []],
  ['с 10:00 до 19:00', [], []],
  ['20.12.2023-21.12.2023', [], []],
  ['2024-03-12', [], []],
  ['сумма 1 500 000 руб', [], []],
  ['оплатил 9 999 123 р', [], []],
  ['сумма 89991234567', [], []],
  ['перевёл 89991234567 ₽', [], []],
  ['89991234567 руб', [], []],
  ['карта 4276 1234 5678 9012', [], []],
  ['счёт 40817810099910004312', [], []],
  ['IP 192.168.100.200', [], []],
  ['1234567890', [], []],
  ['9991234', [], []],
  ['4951234567', [], []],
  ['позвоните на горячую линию 8 800 555 35 35', [], []],
  ['см. https://shop.ru/item/89991234567', [], []],
  ['картинка logo@2x.png', [], []],
  ['https://user:secret@example.com/path', [], []],
  ['@ivanov в телеграме', [], []],
  ['ivan@localhost', [], []],
  ['код подтверждения 9161234567', [], []],
  ['в 2024-2025 годах', [], []],
  ['11.11.11', [], []],
  ['1,89991234567', [], []],
];

describe('detectContacts', () => {
  it('has a table of at least 40 real-looking cases, negatives included', () => {
    expect(found.length + notFound.length).toBeGreaterThanOrEqual(40);
    expect(notFound.length).toBeGreaterThanOrEqual(20);
  });

  it.each([...found, ...notFound])('%s', (text, phones, emails) => {
    const result = detectContacts(text);
    expect(result.phones.map((p) => p.value)).toEqual(phones);
    expect(result.emails.map((e) => e.value)).toEqual(emails);
  });

  it('reports where each contact was written', () => {
    const text = 'мой тел 8 999 123-45-67, почта ivan@example.ru';
    const { phones, emails } = detectContacts(text);
    expect(text.slice(phones[0]!.start, phones[0]!.end)).toBe('8 999 123-45-67');
    expect(phones[0]!.raw).toBe('8 999 123-45-67');
    expect(text.slice(emails[0]!.start, emails[0]!.end)).toBe('ivan@example.ru');
  });

  it('reads national numbers in the given region', () => {
    expect(detectContacts('8 029 123-45-67', 'BY').phones.map((p) => p.value)).toEqual(['+375291234567']);
  });

  it('stays fast and bounded on a long hostile text', () => {
    const text = `${'8 999 '.repeat(5000)}${'a@'.repeat(5000)}`;
    const result = detectContacts(text);
    expect(result.phones.length).toBeLessThan(10);
  });
});
